// stack-check: offline checks of the container and monitoring files, with the libraries the real
// tools are made of.
//
//	stack-check compose [-print | -env-of SERVICE | -config-of SERVICE] FILE
//	    load FILE with compose-go (Docker Compose's own loader: schema, interpolation, references)
//	    and check start order, healthchecks and bind mounts
//	stack-check context DIR OUT
//	    copy DIR's Docker build context (.dockerignore applied by moby/patternmatcher, as the
//	    Docker CLI does) into OUT
//	stack-check metrics -dashboard F -rules F -rule-tests F -scrape F[,F…] -docs F [-allow a,b]
//	    every metric the dashboard's and the rules' PromQL reads (Prometheus' parser) must be in
//	    one of the scrapes (expfmt) and documented, or allowlisted; every alert tested firing and
//	    quiet
//	stack-check queries -dashboard F -prometheus URL -rules N
//	    every dashboard query answers on a real Prometheus scraping a live bridge (the bridge's
//	    with data), and every rule evaluates healthily
//
// Run by tools/check-container.sh and tools/check-observability.sh. Exit 1 on any problem, each
// printed on its own line.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var problems []string
	var err error
	switch os.Args[1] {
	case "compose":
		problems, err = runCompose(os.Args[2:])
	case "context":
		problems, err = runContext(os.Args[2:])
	case "metrics":
		problems, err = runMetrics(os.Args[2:])
	case "queries":
		problems, err = runQueries(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "stack-check %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "stack-check %s: %s\n", os.Args[1], p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: stack-check compose|context|metrics|queries ... (see main.go)")
	os.Exit(2)
}
