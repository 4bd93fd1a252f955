package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// runContext copies what `docker build DIR` would send as its context: every file of DIR that
// DIR/.dockerignore does not exclude, matched with the package the Docker CLI and BuildKit use.
// The check then configures the Dockerfile's CMake build in the copy, which proves the context
// holds every file the build reads.
func runContext(args []string) ([]string, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("usage: context DIR OUT")
	}
	dir, out := args[0], args[1]
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		return nil, err
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, err
	}
	files := 0
	var size int64
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Like the Docker CLI: skip an excluded directory unless an exception may re-include
			// something below it.
			if excluded && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if excluded || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files++
		size += info.Size()
		return copyFile(path, filepath.Join(out, rel), info.Mode())
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "stack-check context: %d files, %d KiB\n", files, size/1024)
	return nil, nil
}

func copyFile(from, to string, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}
