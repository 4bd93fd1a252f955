package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// runCompose loads the file the way `docker compose config` does (schema validation,
// interpolation with the process environment and a .env beside the file, merge keys, references
// between services, volumes and networks), once with the default profiles and once with all, and
// then checks what the loader leaves to run time:
//   - a depends_on condition service_healthy names a service with a healthcheck,
//   - service_completed_successfully names a one-shot service (restart "no" or unset),
//   - every bind-mount source exists (a missing one would be created as an empty directory),
//   - every service that publishes ports (a server) has a healthcheck; compose-go itself reports
//     dependency cycles and unknown services.
//
// With -print it prints the resolved project, as `docker compose config` does. With -env-of SERVICE
// it prints that service's resolved environment as KEY=VALUE lines, and with
// -config-of SERVICE the host path of the file its command names with -c (through its bind
// mounts), so a check can run `capillary-bridge validate` on exactly the file and environment
// compose would give the bridge.
func runCompose(args []string) ([]string, error) {
	fs := flag.NewFlagSet("compose", flag.ContinueOnError)
	envOf := fs.String("env-of", "", "print this service's environment (KEY=VALUE lines)")
	configOf := fs.String("config-of", "", "print the host path of this service's -c file")
	printYAML := fs.Bool("print", false, "print the resolved project (as `docker compose config`)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 {
		return nil, fmt.Errorf("one compose file expected")
	}
	file, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return nil, err
	}

	var problems []string
	for _, profiles := range [][]string{nil, {"*"}} {
		project, err := load(file, profiles)
		if err != nil {
			return nil, fmt.Errorf("profiles %v: %w", profiles, err)
		}
		for _, p := range checkProject(project) {
			problems = appendUnique(problems, p)
		}
		if profiles == nil {
			fmt.Fprintf(os.Stderr, "stack-check compose: %s: services %s\n", filepath.Base(file),
				strings.Join(project.ServiceNames(), ", "))
		} else {
			fmt.Fprintf(os.Stderr, "stack-check compose: with every profile: services %s\n",
				strings.Join(project.ServiceNames(), ", "))
		}
		if *printYAML && profiles == nil {
			out, err := project.MarshalYAML()
			if err != nil {
				return nil, err
			}
			os.Stdout.Write(out)
		}
		if *configOf != "" && profiles == nil {
			path, err := configPath(project, *configOf)
			if err != nil {
				return nil, err
			}
			fmt.Println(path)
		}
		if *envOf != "" && profiles == nil {
			svc, err := project.GetService(*envOf)
			if err != nil {
				return nil, err
			}
			keys := make([]string, 0, len(svc.Environment))
			for k := range svc.Environment {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if v := svc.Environment[k]; v != nil {
					fmt.Printf("%s=%s\n", k, *v)
				}
			}
		}
	}
	return problems, nil
}

func load(file string, profiles []string) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	}
	if profiles != nil {
		opts = append(opts, cli.WithProfiles(profiles))
	}
	options, err := cli.NewProjectOptions([]string{file}, opts...)
	if err != nil {
		return nil, err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	if err := project.CheckContainerNameUnicity(); err != nil {
		return nil, err
	}
	return project, nil
}

func checkProject(p *types.Project) []string {
	var problems []string
	names := p.ServiceNames()
	for _, name := range names {
		svc := p.Services[name]
		hasHealthcheck := svc.HealthCheck != nil && !svc.HealthCheck.Disable
		if len(svc.Ports) > 0 && !hasHealthcheck {
			problems = append(problems, fmt.Sprintf("service %s: serves ports and has no healthcheck", name))
		}
		for depName, dep := range svc.DependsOn {
			target, ok := p.Services[depName]
			if !ok {
				problems = append(problems, fmt.Sprintf("service %s: depends on %s, not in the project", name, depName))
				continue
			}
			switch dep.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || target.HealthCheck.Disable {
					problems = append(problems, fmt.Sprintf(
						"service %s: waits for %s to be healthy, but %s has no healthcheck "+
							"(an image HEALTHCHECK cannot be checked here: declare it)", name, depName, depName))
				}
			case types.ServiceConditionCompletedSuccessfully:
				if !oneShot(target) {
					problems = append(problems, fmt.Sprintf(
						"service %s: waits for %s to complete, but %s restarts (%q)", name, depName, depName,
						target.Restart))
				}
			}
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if !strings.HasPrefix(v.Source, p.WorkingDir) {
				continue // host paths such as cAdvisor's /sys: the host's business
			}
			if _, err := os.Stat(v.Source); err != nil {
				rel, _ := filepath.Rel(p.WorkingDir, v.Source)
				problems = append(problems, fmt.Sprintf("service %s: bind mount source %s does not exist",
					name, rel))
			}
		}
	}
	return problems
}

// configPath maps the argument after -c in the service's command through its bind mounts.
func configPath(p *types.Project, service string) (string, error) {
	svc, err := p.GetService(service)
	if err != nil {
		return "", err
	}
	file := ""
	for i, a := range svc.Command {
		if (a == "-c" || a == "--config") && i+1 < len(svc.Command) {
			file = svc.Command[i+1]
		}
	}
	if file == "" {
		return "", fmt.Errorf("service %s: no -c FILE in its command %v", service, svc.Command)
	}
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if file == v.Target {
			return v.Source, nil
		}
		if rel, ok := strings.CutPrefix(file, strings.TrimSuffix(v.Target, "/")+"/"); ok {
			return filepath.Join(v.Source, rel), nil
		}
	}
	return "", fmt.Errorf("service %s: %s is in no bind mount", service, file)
}

func oneShot(s types.ServiceConfig) bool { return s.Restart == "" || s.Restart == "no" }

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
