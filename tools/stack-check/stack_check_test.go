package main

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestExprMetrics(t *testing.T) {
	cases := []struct {
		expr string
		want []string
		bad  bool
	}{
		{`sum(rate(a_total{x="y"}[5m])) / on (job) group_left b`, []string{"a_total", "b"}, false},
		{`histogram_quantile(0.99, sum by (le) (rate(h_seconds_bucket[5m])))`, []string{"h_seconds_bucket"}, false},
		{`delta(sum by (topic) (lag)[10m:1m]) > 0 unless on (job) up == 0`, []string{"lag", "up"}, false},
		{`{__name__="c_total", job="x"}`, []string{"c_total"}, false},
		{`{__name__=~"capillary_.*"}`, nil, true},
		{`sum(`, nil, true},
	}
	for _, c := range cases {
		got, err := exprMetrics(c.expr)
		if (err != nil) != c.bad {
			t.Errorf("%s: err %v, want error %v", c.expr, err, c.bad)
		}
		if c.bad {
			continue
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestGrafanaToPromQL(t *testing.T) {
	q, vars := grafanaToPromQL(`sum(rate(x_total{job=~"$job", instance=~"${instance:regex}", c="[[container]]"}[$__rate_interval]))`)
	if _, err := exprMetrics(q); err != nil {
		t.Fatalf("%s does not parse: %v", q, err)
	}
	if !strings.Contains(q, "[5m]") {
		t.Errorf("interval not replaced: %s", q)
	}
	if want := []string{"job", "instance", "container"}; !reflect.DeepEqual(vars, want) {
		t.Errorf("vars %v, want %v", vars, want)
	}
}

func TestScrapeNames(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "metrics.txt")
	write(t, f, `# HELP a_total A
# TYPE a_total counter
a_total{topic="t"} 3
# TYPE h_seconds histogram
h_seconds_bucket{le="1"} 1
h_seconds_bucket{le="+Inf"} 2
h_seconds_sum 1.5
h_seconds_count 2
# TYPE g gauge
g 0
`)
	names, err := scrapeNames(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a_total", "h_seconds", "h_seconds_bucket", "h_seconds_sum", "h_seconds_count", "g"} {
		if _, ok := names[n]; !ok {
			t.Errorf("%s missing from %v", n, names)
		}
	}
	if names["h_seconds_bucket"] != "h_seconds" {
		t.Errorf("h_seconds_bucket's family is %q", names["h_seconds_bucket"])
	}
}

func TestRuleTestCoverage(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "tests.yaml")
	write(t, f, `tests:
  - name: fires
    alert_rule_test:
      - alertname: A
        exp_alerts: [{exp_labels: {severity: warning}}]
      - alertname: B
        exp_alerts: [{exp_labels: {severity: warning}}]
  - name: quiet
    alert_rule_test:
      - alertname: A
`)
	problems, err := ruleTestCoverage(f, []string{"A", "B", "C"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"alert B: no test in " + f + " where it stays quiet",
		"alert C: no test in " + f + " where it fires",
		"alert C: no test in " + f + " where it stays quiet",
	}
	if !reflect.DeepEqual(problems, want) {
		t.Errorf("got %q\nwant %q", problems, want)
	}
}

func TestComposeChecks(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "config", "app.yaml"), "x: 1\n")
	f := filepath.Join(dir, "compose.yml")
	write(t, f, `services:
  init:
    image: busybox
    restart: always
  db:
    image: busybox
    ports: ["5432:5432"]
  app:
    image: busybox
    command: ["run", "-c", "/etc/app/app.yaml"]
    volumes:
      - ./config:/etc/app:ro
      - ./missing:/data
    depends_on:
      init: {condition: service_completed_successfully}
      db: {condition: service_healthy}
`)
	project, err := load(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	problems := checkProject(project)
	sort.Strings(problems)
	want := []string{
		`service app: bind mount source missing does not exist`,
		`service app: waits for db to be healthy, but db has no healthcheck (an image HEALTHCHECK cannot be checked here: declare it)`,
		`service app: waits for init to complete, but init restarts ("always")`,
		`service db: serves ports and has no healthcheck`,
	}
	if !reflect.DeepEqual(problems, want) {
		t.Errorf("got %q\nwant %q", problems, want)
	}
	path, err := configPath(project, "app")
	if err != nil || path != filepath.Join(dir, "config", "app.yaml") {
		t.Errorf("configPath = %q, %v", path, err)
	}

	write(t, f, "services:\n  app:\n    image: busybox\n    healthchek: {}\n")
	if _, err := load(f, nil); err == nil {
		t.Error("an unknown key loaded")
	}
}

func TestContext(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	write(t, filepath.Join(dir, ".dockerignore"), "*\n!keep/\n**/*.tmp\n")
	write(t, filepath.Join(dir, "keep", "a.txt"), "a")
	write(t, filepath.Join(dir, "keep", "sub", "b.tmp"), "b")
	write(t, filepath.Join(dir, "drop", "c.txt"), "c")
	write(t, filepath.Join(dir, "top.txt"), "d")
	if _, err := runContext([]string{dir, out}); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if want := []string{"keep/a.txt"}; !reflect.DeepEqual(got, want) {
		t.Errorf("context %v, want %v", got, want)
	}
}
