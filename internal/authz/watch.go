package authz

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// watchDebounce is how long Watch waits after the last relevant event
	// before reloading: an editor's save is a burst of events (temp file,
	// rename, chmod, formatter rewrite).
	watchDebounce = 200 * time.Millisecond
	// watchMaxDelay bounds the wait when events never stop arriving.
	watchMaxDelay = 2 * time.Second
)

// Watch reloads the policy when a file under dir changes: dir must be the
// directory the engine's Options.FS reads (os.DirFS(dir)), or the engine's
// Options.Bundle. It watches dir and all its subdirectories, including
// ones created later, ignores editor temporary files and attribute
// changes, and calls Reload ~200 ms after the last event of a burst.
//
// When dir is a file (a bundle .tar.gz), Watch watches the directory that
// holds it and reloads when that file is written, created, replaced by a
// rename (how deploy tools install a file atomically) or removed (the
// reload then fails and the previous policy keeps serving), or when a
// Kubernetes volume swaps its ..data link; other files there are ignored.
//
// Each reload is logged by Reload (old and new revision and duration, or
// the error naming file and line) and recorded in Status; a failed reload
// keeps the previous policy.
//
// Watch blocks: it returns nil when ctx ends, or an error naming dir when
// the watch cannot start. It may run alongside direct Reload calls (e.g.
// on SIGHUP); reloads are serialized.
func (e *Engine) Watch(ctx context.Context, dir string) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("authz: watching %s: %w", dir, err)
	}
	defer w.Close()

	file, err := watchedFile(dir) // "" for a directory
	if err != nil {
		return fmt.Errorf("authz: watching %s: %w", dir, err)
	}
	dirs := map[string]bool{} // watched directories
	if file != "" {
		if err := w.Add(filepath.Dir(file)); err != nil {
			return fmt.Errorf("authz: watching %s: %w", dir, err)
		}
		e.logger.Info("authz: watching policy bundle", "file", dir, "dir", filepath.Dir(file))
	} else {
		if err := e.watchTree(w, dirs, dir); err != nil {
			return fmt.Errorf("authz: watching %s: %w", dir, err)
		}
		e.logger.Info("authz: watching policy directory", "dir", dir, "directories", len(dirs))
	}

	// A reload in progress when ctx ends completes: a cancelled load
	// would only record a spurious error.
	reloadCtx := context.WithoutCancel(ctx)

	var (
		timer    = time.NewTimer(time.Hour)
		pending  <-chan time.Time // timer.C while a reload is pending
		first    time.Time        // first event of the pending burst
		events   int
		lastFile string
	)
	timer.Stop()
	defer timer.Stop()

	for {
		select {
		case <-ctx.Done():
			return nil

		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if (file != "" && !bundleFileEvent(file, ev)) || (file == "" && !e.watchEvent(w, dirs, ev)) {
				continue
			}
			now := time.Now()
			if pending == nil {
				first = now
				pending = timer.C
			}
			events++
			lastFile = ev.Name
			// Debounce, but don't postpone forever.
			timer.Reset(min(watchDebounce, max(0, first.Add(watchMaxDelay).Sub(now))))

		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			e.logger.Warn("authz: policy watch error", "dir", dir, "error", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: rescan (a bundle file's one directory
				// needs none) and reload.
				if file == "" {
					if err := e.watchTree(w, dirs, dir); err != nil {
						e.logger.Warn("authz: policy watch error", "dir", dir, "error", err)
					}
				}
				if pending == nil {
					first, pending = time.Now(), timer.C
				}
				timer.Reset(watchDebounce)
			}

		case <-pending:
			pending = nil
			e.logger.Debug("authz: policy files changed; reloading", "dir", dir,
				"events", events, "last", lastFile)
			events, lastFile = 0, ""
			_ = e.Reload(reloadCtx) // logs and records the outcome
		}
	}
}

// watchEvent updates the watch list on directory events and reports
// whether ev may change the loaded policy.
func (e *Engine) watchEvent(w *fsnotify.Watcher, dirs map[string]bool, ev fsnotify.Event) bool {
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if dirs[ev.Name] {
			// A watched directory went away (the kernel dropped its
			// watch); so did the policy files in it.
			for d := range dirs {
				if d == ev.Name || strings.HasPrefix(d, ev.Name+string(filepath.Separator)) {
					delete(dirs, d)
					_ = w.Remove(d) // usually already gone
				}
			}
			return true
		}
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			// A new directory (mkdir, or moved in with files in it).
			if err := e.watchTree(w, dirs, ev.Name); err != nil {
				e.logger.Warn("authz: policy watch error", "dir", ev.Name, "error", err)
			}
			return true
		}
	}
	if ev.Op&^fsnotify.Chmod == 0 {
		return false
	}
	return policyFile(filepath.Base(ev.Name))
}

// watchTree adds root and the directories below it to w.
func (e *Engine) watchTree(w *fsnotify.Watcher, dirs map[string]bool, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != root && errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if !d.IsDir() || dirs[path] {
			return nil
		}
		if err := w.Add(path); err != nil {
			if path != root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipDir
			}
			return err
		}
		dirs[path] = true
		return nil
	})
}

// watchedFile is the absolute path of path when it is a file (a bundle
// .tar.gz), or "" when it is a directory.
func watchedFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "", nil
	}
	return filepath.Abs(path)
}

// bundleFileEvent reports whether ev, in the directory holding the bundle
// file, may change it: any change but a chmod of the file itself, or of
// the ..data link through which Kubernetes swaps a mounted volume's files.
func bundleFileEvent(file string, ev fsnotify.Event) bool {
	if ev.Op&^fsnotify.Chmod == 0 {
		return false
	}
	name, err := filepath.Abs(ev.Name)
	if err != nil {
		return false
	}
	return name == file || filepath.Base(name) == "..data"
}

// policyFile reports whether a file named name is loaded as policy or
// data (see Options.FS), or is a bundle's manifest (Options.Bundle), and
// is not an editor's swap, backup or lock file.
func policyFile(name string) bool {
	if name == ".manifest" {
		return true
	}
	switch {
	case strings.HasPrefix(name, ".#"), // Emacs lock
		strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"), // Emacs auto-save
		strings.HasSuffix(name, "~"),                                 // backup
		strings.HasSuffix(name, "_test.rego"):                        // not loaded
		return false
	}
	switch filepath.Ext(name) {
	case ".rego", ".json", ".yaml", ".yml":
		return true
	}
	return false // .x.swp, 4913 (vim), *.tmp, ...
}
