package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// runQueries runs every dashboard query against a real Prometheus that scrapes a live bridge and
// loads the alert rules:
//   - a query that reads only capillary_bridge_* metrics must answer without error and with at
//     least one series (wrong label names, a missing `le` in histogram_quantile or a bad join
//     answer nothing); queries on other exporters' metrics must answer without error;
//   - every rule must have been evaluated with health "ok" (errors such as many-to-many matches
//     only appear with real label sets).
//
// Grafana's variables take their "All" value (allValue) or their current value; $__rate_interval
// and friends become -interval.
func runQueries(args []string) ([]string, error) {
	fs := flag.NewFlagSet("queries", flag.ContinueOnError)
	dashboardFile := fs.String("dashboard", "", "Grafana dashboard JSON")
	prom := fs.String("prometheus", "", "Prometheus base URL")
	interval := fs.String("interval", "1m", "value of $__rate_interval, $__interval and $__range")
	wantRules := fs.Int("rules", 0, "number of rules Prometheus must have loaded")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(*dashboardFile)
	if err != nil {
		return nil, err
	}
	var d struct {
		Panels     []map[string]any `json:"panels"`
		Templating struct {
			List []map[string]any `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	values := map[string]string{}
	for _, v := range d.Templating.List {
		name, _ := v["name"].(string)
		if all, ok := v["allValue"].(string); ok && v["includeAll"] == true {
			values[name] = all
		} else if cur, ok := v["current"].(map[string]any); ok {
			values[name], _ = cur["value"].(string)
		}
	}
	substitute := func(q string) string {
		q = grafanaInterval.ReplaceAllString(q, *interval)
		return grafanaVar.ReplaceAllStringFunc(q, func(m string) string {
			s := grafanaVar.FindStringSubmatch(m)
			return values[s[1]+s[2]+s[3]]
		})
	}

	client := &http.Client{Timeout: 10 * time.Second}
	var problems []string
	queries, withData := 0, 0
	var walk func(panels []any)
	walk = func(panels []any) {
		for _, pa := range panels {
			p, _ := pa.(map[string]any)
			if nested, ok := p["panels"].([]any); ok {
				walk(nested)
			}
			targets, _ := p["targets"].([]any)
			for _, t := range targets {
				tm, _ := t.(map[string]any)
				expr, _ := tm["expr"].(string)
				if expr == "" {
					continue
				}
				where := fmt.Sprintf("panel %q target %v", p["title"], tm["refId"])
				q := substitute(expr)
				n, err := query(client, *prom, q)
				queries++
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: %s: %v", where, q, err))
					continue
				}
				names, _ := exprMetrics(q)
				bridgeOnly := len(names) > 0
				for _, name := range names {
					bridgeOnly = bridgeOnly && strings.HasPrefix(name, bridgePrefix)
				}
				if n > 0 {
					withData++
				} else if bridgeOnly {
					problems = append(problems, fmt.Sprintf("%s: no series from a live bridge: %s", where, q))
				}
			}
		}
	}
	walk(toAny(d.Panels))

	ruleProblems, rules, err := ruleHealth(client, *prom)
	if err != nil {
		return nil, err
	}
	problems = append(problems, ruleProblems...)
	if rules != *wantRules {
		problems = append(problems, fmt.Sprintf("Prometheus loaded %d rules, want %d", rules, *wantRules))
	}
	fmt.Fprintf(os.Stderr, "stack-check queries: %d dashboard queries run on Prometheus, %d with data "+
		"(the rest read cAdvisor / kube-state-metrics); %d rules evaluated\n", queries, withData, rules)
	return problems, nil
}

func toAny(m []map[string]any) []any {
	out := make([]any, len(m))
	for i := range m {
		out[i] = m[i]
	}
	return out
}

func query(client *http.Client, prom, q string) (int, error) {
	resp, err := client.Get(prom + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s", r.Error)
	}
	return len(r.Data.Result), nil
}

func ruleHealth(client *http.Client, prom string) ([]string, int, error) {
	resp, err := client.Get(prom + "/api/v1/rules")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, 0, err
	}
	var problems []string
	n := 0
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			n++
			if rule.Health != "ok" {
				problems = append(problems, fmt.Sprintf("rule %s: health %q %s", rule.Name, rule.Health, rule.LastError))
			}
		}
	}
	return problems, n, nil
}
