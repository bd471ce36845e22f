package apps

import (
	"context"
	"fmt"
	"net"

	"github.com/vigil-dev/vigil/test/appimage"
)

// App is one application of the corpus.
type App struct {
	// Name names it in reports and test names.
	Name string
	// Recipe builds its image.
	Recipe appimage.Recipe
	// Ready returns nil once the application serves.
	Ready func(ctx context.Context, dial Dialer) error
	// MixA is the traffic the profile is learned from; MixB is different
	// but as legitimate (other pages, files, queries, names, times).
	MixA, MixB Mix
	// Chosen are the names mix B's requests choose (users, files): a file
	// the application creates under one of them is named by the request.
	Chosen []string
}

// Dialer connects to an address inside the application's container.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Mix sends one round of traffic and returns the outcome of each request.
// Round counts from 0; a mix may vary what it asks by round.
type Mix func(ctx context.Context, dial Dialer, round int) []Outcome

// Outcome is what became of one request: Err is nil when the application
// answered as a working one would.
type Outcome struct {
	Request string
	Err     error
}

func ok(request string) Outcome { return Outcome{Request: request} }

func failed(request string, format string, args ...any) Outcome {
	return Outcome{Request: request, Err: fmt.Errorf(format, args...)}
}

// Corpus is every application of the corpus, smallest image first.
func Corpus() []App { return []App{Nginx(), Notes(), PostgreSQL()} }
