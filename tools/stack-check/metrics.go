package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// The bridge's own metrics; every other name a query reads must be allowlisted.
const bridgePrefix = "capillary_bridge_"

var promql = parser.NewParser(parser.Options{})

// runMetrics extracts every metric name the Grafana dashboard's queries (panel targets and
// templating variables) and the alert rules read, with Prometheus' own PromQL parser, and checks:
//   - each capillary_bridge_* name is a family of one of the live scrapes (a histogram's _bucket,
//     _sum and _count included) and is documented in docs/metrics.md;
//   - each other name is in the allowlist (kube-state-metrics, cAdvisor, up), and every allowlisted
//     name is used;
//   - the dashboard is well formed: uid, title, unique panel ids, a gridPos and queries on every
//     panel, the ${datasource} variable everywhere, no undefined variables;
//   - every alert has a promtool test where it fires and one where it stays quiet.
func runMetrics(args []string) ([]string, error) {
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	dashboardFile := fs.String("dashboard", "", "Grafana dashboard JSON")
	rulesFile := fs.String("rules", "", "Prometheus rules file")
	testsFile := fs.String("rule-tests", "", "promtool test file for the rules")
	scrapeFiles := fs.String("scrape", "", "/metrics scrapes of the bridge and receivers (Prometheus text format), comma-separated")
	docsFile := fs.String("docs", "", "docs/metrics.md")
	allow := fs.String("allow", "", "comma-separated metric names from other exporters")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *dashboardFile == "" || *rulesFile == "" || *testsFile == "" || *scrapeFiles == "" || *docsFile == "" {
		return nil, fmt.Errorf("-dashboard, -rules, -rule-tests, -scrape and -docs are required")
	}

	var problems []string
	used := map[string][]string{} // metric name -> where

	dashProblems, err := dashboardMetrics(*dashboardFile, used)
	if err != nil {
		return nil, err
	}
	problems = append(problems, dashProblems...)

	alerts, ruleProblems, err := ruleMetrics(*rulesFile, used)
	if err != nil {
		return nil, err
	}
	problems = append(problems, ruleProblems...)

	testProblems, err := ruleTestCoverage(*testsFile, alerts)
	if err != nil {
		return nil, err
	}
	problems = append(problems, testProblems...)

	exported := map[string]string{}
	for _, file := range strings.Split(*scrapeFiles, ",") {
		names, err := scrapeNames(file)
		if err != nil {
			return nil, err
		}
		for n, f := range names {
			exported[n] = f
		}
	}
	documented, err := documentedNames(*docsFile)
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, a := range strings.Split(*allow, ",") {
		if a = strings.TrimSpace(a); a != "" {
			allowed[a] = true
		}
	}

	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	bridgeUsed := 0
	for _, n := range names {
		where := strings.Join(used[n], "; ")
		if strings.HasPrefix(n, bridgePrefix) {
			bridgeUsed++
			family, ok := exported[n]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s (read by %s) is not in the scraped /metrics", n, where))
				continue
			}
			if !documented[family] {
				problems = append(problems, fmt.Sprintf("%s is exported but not documented in %s", family, *docsFile))
			}
			continue
		}
		if !allowed[n] {
			problems = append(problems, fmt.Sprintf("%s (read by %s) is neither a bridge metric nor allowlisted", n, where))
		}
	}
	for a := range allowed {
		if _, ok := used[a]; !ok {
			problems = append(problems, fmt.Sprintf("allowlisted %s is not used: drop it from the allowlist", a))
		}
	}

	families := map[string]bool{}
	for _, f := range exported {
		families[f] = true
	}
	var unused []string
	for f := range families {
		if !usedFamily(f, used) {
			unused = append(unused, f)
		}
	}
	sort.Strings(unused)
	fmt.Fprintf(os.Stderr, "stack-check metrics: %d metric names read by the dashboard and rules "+
		"(%d of them the bridge's; the scrapes have %d families); %d alerts\n",
		len(names), bridgeUsed, len(families), len(alerts))
	if len(unused) > 0 {
		fmt.Fprintf(os.Stderr, "stack-check metrics: exported, on no panel or rule: %s\n", strings.Join(unused, ", "))
	}
	return problems, nil
}

func usedFamily(family string, used map[string][]string) bool {
	for _, s := range []string{"", "_bucket", "_sum", "_count"} {
		if _, ok := used[family+s]; ok {
			return true
		}
	}
	return false
}

// scrapeNames maps every sample name of the scrape to its family: a histogram family f also
// answers for f_bucket, f_sum and f_count. prometheus-cpp leaves out families without series
// (a labelled family nothing has touched yet), so the check drives the bridge until they appear.
func scrapeNames(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	names := map[string]string{}
	for name, fam := range fams {
		if len(fam.GetMetric()) == 0 {
			continue
		}
		names[name] = name
		if fam.GetType() == dto.MetricType_HISTOGRAM || fam.GetType() == dto.MetricType_SUMMARY {
			for _, s := range []string{"_sum", "_count"} {
				names[name+s] = name
			}
			if fam.GetType() == dto.MetricType_HISTOGRAM {
				names[name+"_bucket"] = name
			}
		}
	}
	return names, nil
}

var docName = regexp.MustCompile("`(" + bridgePrefix + "[a-z0-9_]+)`")

func documentedNames(file string) (map[string]bool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, m := range docName.FindAllStringSubmatch(string(b), -1) {
		names[m[1]] = true
	}
	return names, nil
}

func exprMetrics(expr string) ([]string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var bad error
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name != model.MetricNameLabel {
				continue
			}
			if m.Type.String() != "=" {
				bad = fmt.Errorf("selector %s matches metric names by pattern: name them, so they can be checked", vs)
			}
			name = m.Value
		}
		if name == "" {
			bad = fmt.Errorf("selector %s names no metric", vs)
		}
		names = append(names, name)
		return nil
	})
	return names, bad
}

func ruleMetrics(file string, used map[string][]string) ([]string, []string, error) {
	groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, promql,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%v", errs)
	}
	var alerts, problems []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			} else {
				alerts = append(alerts, name)
			}
			names, err := exprMetrics(r.Expr)
			if err != nil {
				problems = append(problems, fmt.Sprintf("rule %s: %v", name, err))
			}
			for _, n := range names {
				used[n] = appendUnique(used[n], "rule "+name)
			}
			if r.Alert != "" && (r.Labels["severity"] == "" || r.Annotations["summary"] == "" ||
				r.Annotations["description"] == "") {
				problems = append(problems, fmt.Sprintf("alert %s: needs labels.severity, annotations.summary and annotations.description", name))
			}
		}
	}
	return alerts, problems, nil
}

type ruleTests struct {
	Tests []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func ruleTestCoverage(file string, alerts []string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var t ruleTests
	if err := yaml.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range t.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	var problems []string
	for _, a := range alerts {
		if !fires[a] {
			problems = append(problems, fmt.Sprintf("alert %s: no test in %s where it fires", a, file))
		}
		if !quiet[a] {
			problems = append(problems, fmt.Sprintf("alert %s: no test in %s where it stays quiet", a, file))
		}
	}
	return problems, nil
}

var (
	grafanaInterval = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)\}?`)
	grafanaVar      = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]`)
	labelValues     = regexp.MustCompile(`^\s*label_values\((.*),\s*[A-Za-z0-9_]+\s*\)\s*$`)
	queryResult     = regexp.MustCompile(`^\s*query_result\((.*)\)\s*$`)
)

// grafanaToPromQL replaces Grafana's variables with values PromQL parses: intervals by 5m, other
// variables (used inside label matchers) by a word. It returns the variables it saw.
func grafanaToPromQL(q string) (string, []string) {
	q = grafanaInterval.ReplaceAllString(q, "5m")
	var vars []string
	q = grafanaVar.ReplaceAllStringFunc(q, func(m string) string {
		s := grafanaVar.FindStringSubmatch(m)
		vars = append(vars, s[1]+s[2]+s[3])
		return "var"
	})
	return q, vars
}

func dashboardMetrics(file string, used map[string][]string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var d struct {
		UID           string           `json:"uid"`
		Title         string           `json:"title"`
		SchemaVersion int              `json:"schemaVersion"`
		Panels        []map[string]any `json:"panels"`
		Templating    struct {
			List []map[string]any `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var problems []string
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		problems = append(problems, "dashboard: uid, title and schemaVersion are required")
	}

	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		name, _ := v["name"].(string)
		defined[name] = true
	}
	if !defined["datasource"] {
		problems = append(problems, "dashboard: no `datasource` variable (type datasource): panels must not name a datasource uid")
	}
	checkVars := func(where string, vars []string) {
		for _, v := range vars {
			if !defined[v] {
				problems = append(problems, fmt.Sprintf("%s: variable $%s is not defined", where, v))
			}
		}
	}
	checkDatasource := func(where string, ds any) {
		m, ok := ds.(map[string]any)
		if !ok || m["uid"] != "${datasource}" {
			problems = append(problems, fmt.Sprintf("%s: datasource must be {\"type\":\"prometheus\",\"uid\":\"${datasource}\"}", where))
		}
	}

	for _, v := range d.Templating.List {
		name, _ := v["name"].(string)
		if v["type"] != "query" {
			continue
		}
		where := "variable $" + name
		checkDatasource(where, v["datasource"])
		q, _ := v["query"].(string)
		if m, ok := v["query"].(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		if s := labelValues.FindStringSubmatch(q); s != nil {
			q = s[1]
		} else if s := queryResult.FindStringSubmatch(q); s != nil {
			q = s[1]
		} else {
			problems = append(problems, fmt.Sprintf("%s: query %q is not label_values(...) or query_result(...)", where, q))
			continue
		}
		expr, vars := grafanaToPromQL(q)
		checkVars(where, vars)
		names, err := exprMetrics(expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %q: %v", where, q, err))
		}
		for _, n := range names {
			used[n] = appendUnique(used[n], where)
		}
	}

	ids := map[float64]string{}
	var walk func(panels []map[string]any)
	walk = func(panels []map[string]any) {
		for _, p := range panels {
			title, _ := p["title"].(string)
			typ, _ := p["type"].(string)
			where := fmt.Sprintf("panel %q", title)
			id, ok := p["id"].(float64)
			if !ok {
				problems = append(problems, where+": no id")
			} else if other, dup := ids[id]; dup {
				problems = append(problems, fmt.Sprintf("%s: id %v also used by panel %q", where, id, other))
			} else {
				ids[id] = title
			}
			if _, ok := p["gridPos"].(map[string]any); !ok {
				problems = append(problems, where+": no gridPos")
			}
			if typ == "row" {
				if nested, ok := p["panels"].([]any); ok {
					var ps []map[string]any
					for _, n := range nested {
						if m, ok := n.(map[string]any); ok {
							ps = append(ps, m)
						}
					}
					walk(ps)
				}
				continue
			}
			if typ == "text" {
				continue
			}
			checkDatasource(where, p["datasource"])
			targets, _ := p["targets"].([]any)
			if len(targets) == 0 {
				problems = append(problems, where+": no queries")
			}
			refIDs := map[string]bool{}
			for _, t := range targets {
				tm, _ := t.(map[string]any)
				expr, _ := tm["expr"].(string)
				ref, _ := tm["refId"].(string)
				if ref == "" || refIDs[ref] {
					problems = append(problems, fmt.Sprintf("%s: missing or duplicate refId %q", where, ref))
				}
				refIDs[ref] = true
				checkDatasource(where+" target "+ref, tm["datasource"])
				if expr == "" {
					problems = append(problems, fmt.Sprintf("%s target %s: no expr", where, ref))
					continue
				}
				q, vars := grafanaToPromQL(expr)
				checkVars(where, vars)
				names, err := exprMetrics(q)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s target %s: %q: %v", where, ref, expr, err))
				}
				for _, n := range names {
					used[n] = appendUnique(used[n], where)
				}
			}
		}
	}
	walk(d.Panels)
	if len(ids) == 0 {
		problems = append(problems, "dashboard: no panels")
	}
	return problems, nil
}
