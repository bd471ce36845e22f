package apps

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vigil-dev/vigil/test/appimage"
	"github.com/vigil-dev/vigil/test/containerd/ctrd"
)

// notesApp is the application: notes.py and the assets it serves.
//
//go:embed notes/notes.py notes/static
var notesApp embed.FS

const (
	notesAddr = "127.0.0.1:8080"
	// notesUID runs the application, and owns its data and log directories.
	notesUID = 1000
)

// Notes is notes.py, a Python web application of the standard library
// only, on Debian's python3: user-named files, timestamped exports,
// timestamped logs, and an import only its error path makes.
func Notes() App {
	files := []ctrd.File{
		{Path: "dev", Mode: 0o755, Dir: true},
		{Path: "var/lib/notes", Mode: 0o750, UID: notesUID, GID: notesUID, Dir: true},
		{Path: "var/log/notes", Mode: 0o750, UID: notesUID, GID: notesUID, Dir: true},
	}
	err := fs.WalkDir(notesApp, "notes", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := notesApp.ReadFile(p)
		files = append(files, ctrd.File{Path: path.Join("app", p[len("notes/"):]), Mode: 0o644, Data: data})
		return err
	})
	if err != nil {
		panic(fmt.Sprintf("embedded notes application: %v", err)) // the embed is checked at compile time
	}
	return App{
		Name: "notes",
		Recipe: appimage.Recipe{
			Name:     "vigil.test/apps/notes:1",
			Packages: []string{"python3"},
			Files:    files,
			Config: ocispec.ImageConfig{
				User:       fmt.Sprintf("%d:%d", notesUID, notesUID),
				Env:        []string{debianPath, "NOTES_DATA=/var/lib/notes", "NOTES_LOG=/var/log/notes/notes.log"},
				Entrypoint: []string{"/usr/bin/python3", "/app/notes.py"},
				WorkingDir: "/app",
			},
		},
		Ready:  httpReady(notesAddr, "/health"),
		MixA:   notesMixA,
		MixB:   notesMixB,
		Chosen: []string{"carol", "dave", "budget.csv", "photo.jpg", "draft.md", "retro.txt"},
	}
}

// notesMixA: alice and bob store, read, list, note, export and delete.
func notesMixA(ctx context.Context, dial Dialer, round int) []Outcome {
	s := newHTTPSession(dial, notesAddr)
	defer s.close()
	out := s.all(ctx, []request{
		{method: http.MethodGet, path: "/health", want: http.StatusOK},
		{method: http.MethodGet, path: "/static/site.css", want: http.StatusOK},
		{method: http.MethodPut, path: "/files/alice/minutes.txt", body: fmt.Appendf(nil, "minutes of meeting %d\n", round), want: http.StatusCreated},
		{method: http.MethodPut, path: "/files/bob/todo.md", body: []byte("- [ ] ship it\n"), want: http.StatusCreated},
		{method: http.MethodPut, path: "/files/alice/plan.txt", body: []byte("plan\n"), want: http.StatusCreated},
		{method: http.MethodGet, path: "/files/alice/minutes.txt", want: http.StatusOK},
		{method: http.MethodGet, path: "/files/alice/", want: http.StatusOK},
		{method: http.MethodGet, path: "/files/bob/todo.md", want: http.StatusOK},
		{method: http.MethodPost, path: "/notes/alice", body: []byte(`{"title": "standup", "text": "all good"}`), want: http.StatusCreated},
		{method: http.MethodDelete, path: "/files/alice/plan.txt", want: http.StatusNoContent},
		{method: http.MethodGet, path: "/files/alice/absent.txt", want: http.StatusNotFound},
	})
	return append(out, notesExport(ctx, s, "alice")...)
}

// notesMixB: carol and dave, other file names and kinds, a malformed note
// (answered 400 by the error path), exports at other times.
func notesMixB(ctx context.Context, dial Dialer, round int) []Outcome {
	s := newHTTPSession(dial, notesAddr)
	defer s.close()
	photo := make([]byte, 32<<10)
	for i := range photo {
		photo[i] = byte(i*7 + round)
	}
	out := s.all(ctx, []request{
		{method: http.MethodGet, path: "/health", want: http.StatusOK},
		{method: http.MethodGet, path: "/static/app.js", want: http.StatusOK},
		{method: http.MethodGet, path: "/static/logo.svg", want: http.StatusOK},
		{method: http.MethodPut, path: "/files/carol/budget.csv", body: fmt.Appendf(nil, "item,amount\nrent,%d\n", 1000+round), want: http.StatusCreated},
		{method: http.MethodPut, path: "/files/dave/photo.jpg", body: photo, want: http.StatusCreated},
		{method: http.MethodPut, path: "/files/carol/draft.md", body: []byte("# draft\n"), want: http.StatusCreated},
		{method: http.MethodGet, path: "/files/carol/budget.csv", want: http.StatusOK},
		{method: http.MethodGet, path: "/files/dave/", want: http.StatusOK},
		{method: http.MethodGet, path: "/files/dave/photo.jpg", want: http.StatusOK},
		{method: http.MethodPost, path: "/notes/dave", body: []byte(`{"title": "retro", "text": "went well"}`), want: http.StatusCreated},
		{method: http.MethodPost, path: "/notes/carol", body: []byte(`{"title": "oops"`), want: http.StatusBadRequest},
		{method: http.MethodDelete, path: "/files/carol/draft.md", want: http.StatusNoContent},
	})
	return append(out, notesExport(ctx, s, "carol")...)
}

// notesExport exports user's files and fetches the export by the name the
// application gave it.
func notesExport(ctx context.Context, s *httpSession, user string) []Outcome {
	o, body := s.do(ctx, request{method: http.MethodPost, path: "/exports/" + user, want: http.StatusCreated})
	if o.Err != nil {
		return []Outcome{o}
	}
	var export struct{ Name string }
	if err := json.Unmarshal(body, &export); err != nil || export.Name == "" {
		return []Outcome{failed(o.Request, "answer %q is not an export's name", body)}
	}
	got, _ := s.do(ctx, request{method: http.MethodGet, path: "/exports/" + export.Name, want: http.StatusOK})
	return []Outcome{o, got}
}
