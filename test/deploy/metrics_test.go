package deploy

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// metricDef is one metric the code defines: its labels, and where.
type metricDef struct {
	labels map[string]bool
	at     string
}

// codeMetrics finds every Prometheus metric the agent and collector define,
// by reading their Go source (pkg/ and cmd/, tests excluded) with go/ast:
// prometheus.{Counter,Gauge,Histogram,Summary}Opts literals (Namespace,
// Subsystem, Name; the labels of the New*Vec call around them) and
// prometheus.NewDesc calls. A name built by a helper closure
// (func(name, help string) { ...Name: "prefix_" + name... }) is resolved at
// the closure's calls. It also returns every string literal of that code,
// the label values a selector may name.
func codeMetrics(t *testing.T) (map[string]*metricDef, map[string]bool) {
	t.Helper()
	defs := map[string]*metricDef{}
	literals := map[string]bool{}
	fset := token.NewFileSet()
	for _, dir := range []string{"pkg", "cmd"} {
		err := filepath.WalkDir(filepath.Join(repoRoot(t), dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						literals[s] = true
					}
				}
				return true
			})
			// Per declaration: a function, or package variables (descriptors).
			for _, decl := range f.Decls {
				for _, e := range metricsIn(decl) {
					if e.err != "" {
						t.Errorf("%s: %s", fset.Position(e.pos), e.err)
						continue
					}
					def := defs[e.name]
					if def == nil {
						def = &metricDef{labels: map[string]bool{}, at: fset.Position(e.pos).String()}
						defs[e.name] = def
					}
					for _, l := range e.labels {
						def.labels[l] = true
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return defs, literals
}

type foundMetric struct {
	name   string
	labels []string
	pos    token.Pos
	err    string // a definition whose name could not be read
}

// metricsIn finds the metric definitions of one declaration.
func metricsIn(decl ast.Decl) []foundMetric {
	var out []foundMetric
	// helpers: closures whose Opts name is prefix + one of their parameters.
	type helper struct {
		prefix string
		param  int
		labels []string
	}
	helpers := map[string]helper{}
	var stack []ast.Node
	ast.Inspect(decl, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		defer func() { stack = append(stack, n) }()
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if isSel(call.Fun, "prometheus", "NewDesc") && len(call.Args) >= 3 {
			name, ok := stringLit(call.Args[0])
			if !ok {
				out = append(out, foundMetric{pos: call.Pos(), err: "prometheus.NewDesc with a name that is not a string literal"})
				return true
			}
			out = append(out, foundMetric{name: name, labels: stringList(call.Args[2]), pos: call.Pos()})
			return true
		}
		if id, ok := call.Fun.(*ast.Ident); ok {
			if h, ok := helpers[id.Name]; ok && h.param < len(call.Args) {
				if s, ok := stringLit(call.Args[h.param]); ok {
					out = append(out, foundMetric{name: h.prefix + s, labels: h.labels, pos: call.Pos()})
				}
			}
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasPrefix(sel.Sel.Name, "New") || len(call.Args) == 0 {
			return true
		}
		opts, ok := call.Args[0].(*ast.CompositeLit)
		if !ok || !isOpts(opts.Type) {
			return true
		}
		var labels []string
		if len(call.Args) > 1 {
			labels = stringList(call.Args[1])
		}
		var parts []string
		var param string
		for _, elt := range opts.Elts {
			kv, ok := elt.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			key, _ := kv.Key.(*ast.Ident)
			if key == nil {
				continue
			}
			switch key.Name {
			case "Namespace", "Subsystem", "Name":
				prefix, p, ok := nameExpr(kv.Value)
				if !ok {
					out = append(out, foundMetric{pos: kv.Pos(), err: "a metric " + key.Name + " this test cannot read: extend metricsIn"})
					return true
				}
				if p != "" {
					param = p
				}
				if prefix != "" || p != "" {
					parts = append(parts, prefix)
				}
			case "ConstLabels":
				if cl, ok := kv.Value.(*ast.CompositeLit); ok {
					for _, e := range cl.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							if s, ok := stringLit(kv.Key); ok {
								labels = append(labels, s)
							}
						}
					}
				}
			}
		}
		name := strings.Join(parts, "_")
		if param == "" {
			out = append(out, foundMetric{name: name, labels: labels, pos: opts.Pos()})
			return true
		}
		// The name ends in a parameter of the closure around: resolve it at
		// the closure's calls, in this function.
		for i := len(stack) - 1; i >= 0; i-- {
			lit, ok := stack[i].(*ast.FuncLit)
			if !ok {
				continue
			}
			idx := paramIndex(lit.Type, param)
			v := assignedTo(stack[:i], lit)
			if idx < 0 || v == "" {
				break
			}
			helpers[v] = helper{prefix: name, param: idx, labels: labels}
			return true
		}
		out = append(out, foundMetric{pos: opts.Pos(), err: "a metric name from " + param + ", not a parameter of a closure assigned to a variable: extend metricsIn"})
		return true
	})
	return out
}

// nameExpr reads a Name, Namespace or Subsystem: a string literal, a
// parameter, or a literal + a parameter.
func nameExpr(e ast.Expr) (prefix, param string, ok bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		s, ok := stringLit(e)
		return s, "", ok
	case *ast.Ident:
		return "", e.Name, true
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", "", false
		}
		s, ok := stringLit(e.X)
		id, isIdent := e.Y.(*ast.Ident)
		if !ok || !isIdent {
			return "", "", false
		}
		return s, id.Name, true
	}
	return "", "", false
}

func isSel(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

func isOpts(e ast.Expr) bool {
	for _, o := range []string{"CounterOpts", "GaugeOpts", "HistogramOpts", "SummaryOpts"} {
		if isSel(e, "prometheus", o) {
			return true
		}
	}
	return false
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// stringList reads []string{"a", "b"}.
func stringList(e ast.Expr) []string {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, elt := range cl.Elts {
		if s, ok := stringLit(elt); ok {
			out = append(out, s)
		}
	}
	return out
}

func paramIndex(ft *ast.FuncType, name string) int {
	i := 0
	for _, f := range ft.Params.List {
		for _, n := range f.Names {
			if n.Name == name {
				return i
			}
			i++
		}
	}
	return -1
}

// assignedTo is the variable a function literal is assigned to (v := func...).
func assignedTo(stack []ast.Node, lit *ast.FuncLit) string {
	for i := len(stack) - 1; i >= 0; i-- {
		as, ok := stack[i].(*ast.AssignStmt)
		if !ok {
			continue
		}
		for j, rhs := range as.Rhs {
			if rhs == lit && j < len(as.Lhs) {
				if id, ok := as.Lhs[j].(*ast.Ident); ok {
					return id.Name
				}
			}
		}
		return ""
	}
	return ""
}

// TestCodeMetricsAreFound guards the reader the dashboard test relies on:
// it finds metrics of each way the code defines them.
func TestCodeMetricsAreFound(t *testing.T) {
	defs, literals := codeMetrics(t)
	for name, labels := range map[string][]string{
		"vigil_alerts_total":                         {"kind", "action", "pod_namespace"}, // CounterOpts in a NewCounterVec
		"vigil_sensor_events_lost_total":             {"type", "where"},                   // NewDesc
		"vigil_collector_alerts_stored_total":        nil,                                 // a helper closure's prefix + name
		"vigil_containers_connected":                 nil,                                 // Namespace, Subsystem, Name
		"vigil_enforcement_tier":                     {"hook", "tier", "reason"},
		"vigil_collector_alerts_rejected_total":      {"reason"},
		"vigil_audit_exported_total":                 nil, // a helper closure's name parameter
		"vigil_sensor_judged_events_lost_total":      {"type", "where"},
		"vigil_approval_unapproved_containers_total": nil,
	} {
		def, ok := defs[name]
		if !ok {
			t.Errorf("%s not found in the code", name)
			continue
		}
		for _, l := range labels {
			if !def.labels[l] {
				t.Errorf("%s (%s): label %s not found, have %v", name, def.at, l, def.labels)
			}
		}
	}
	for name, def := range defs {
		if !strings.HasPrefix(name, "vigil_") {
			t.Errorf("%s (%s): read as a metric name without vigil_", name, def.at)
		}
	}
	if !literals["alert-only"] {
		t.Error(`the literal "alert-only" (enforce.TierAlertOnly) not found`)
	}
	t.Logf("%d metrics defined in pkg/ and cmd/", len(defs))
}

// runtimeMetrics are the process and Go runtime metrics of client_golang's
// collectors, which the agent and collector register (checked in their
// source): their names, from a real registry.
func runtimeMetrics(t *testing.T) map[string]*metricDef {
	t.Helper()
	for _, file := range []string{"cmd/vigil-agent/run.go", "pkg/collector/run.go"} {
		src, err := os.ReadFile(filepath.Join(repoRoot(t), file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "collectors.NewProcessCollector(") {
			t.Errorf("%s registers no process collector: process_* metrics are not exported", file)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*metricDef{}
	for _, f := range families {
		out[f.GetName()] = &metricDef{labels: map[string]bool{}, at: "client_golang collectors"}
	}
	return out
}

// A query's parts, read with regular expressions: enough for the queries of
// this chart (selectors, aggregations, functions), not a PromQL parser.
var (
	queryMatcher   = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	queryGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	queryIdent     = regexp.MustCompile(`\$?[A-Za-z_:][A-Za-z0-9_:]*\s*\(?`)
	queryBraces    = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	labelValues    = regexp.MustCompile(`^label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)
	legendLabel    = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
	annotationsRef = regexp.MustCompile(`\$labels\.([A-Za-z_][A-Za-z0-9_]*)`)
	queryKeywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}
)

// query is what a query names: metrics, labels (grouping: those of its
// by (...) clauses, which are all its result keeps), and label values by
// label.
type query struct {
	metrics  []string
	labels   []string
	grouping []string
	values   map[string][]string
}

func parseQuery(q string) query {
	if m := labelValues.FindStringSubmatch(q); m != nil {
		r := parseQuery(m[1])
		r.labels = append(r.labels, m[2])
		return r
	}
	r := query{values: map[string][]string{}}
	for _, m := range queryMatcher.FindAllStringSubmatch(q, -1) {
		r.labels = append(r.labels, m[1])
		if m[2] == "=" && !strings.Contains(m[3], "$") {
			r.values[m[1]] = append(r.values[m[1]], m[3])
		}
	}
	for _, m := range queryGrouping.FindAllStringSubmatch(q, -1) {
		for l := range strings.SplitSeq(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				r.labels = append(r.labels, l)
				if strings.HasPrefix(strings.TrimSpace(m[0]), "by") {
					r.grouping = append(r.grouping, l)
				}
			}
		}
	}
	rest := queryGrouping.ReplaceAllString(queryBraces.ReplaceAllString(q, " "), " ")
	for _, id := range queryIdent.FindAllString(rest, -1) {
		id = strings.TrimSpace(id)
		if strings.HasSuffix(id, "(") || strings.HasPrefix(id, "$") || queryKeywords[id] {
			continue
		}
		r.metrics = append(r.metrics, id)
	}
	return r
}

// TestMonitoringUsesRealMetrics renders the chart with its ServiceMonitors,
// PrometheusRule and dashboard and checks every query in them against the
// code: each metric is defined (or is the scrape's own up, or a client_golang
// runtime metric the binaries register), each label is the metric's or a
// target label (Prometheus's and the ServiceMonitors' relabelings), each
// label value a selector compares with equality is a string the code has
// (label values such as tier="alert-only") or a job the chart scrapes, each
// legend and alert annotation names a label its query has.
func TestMonitoringUsesRealMetrics(t *testing.T) {
	defs, literals := codeMetrics(t)
	for name, def := range runtimeMetrics(t) {
		defs[name] = def
	}
	defs["up"] = &metricDef{labels: map[string]bool{}, at: "Prometheus"}

	r := renderObjects(t, merge(haValues, monitoringValues))
	targetLabels := map[string]bool{"job": true, "instance": true, "namespace": true, "pod": true, "service": true, "endpoint": true, "container": true}
	jobs := map[string]bool{}
	for key, sm := range r.monitoring {
		if sm.GetKind() != "ServiceMonitor" {
			continue
		}
		jobs[sm.GetName()] = true // the job is the Service's name, which is the ServiceMonitor's
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		for _, e := range endpoints {
			relabelings, _, _ := unstructured.NestedSlice(e.(map[string]any), "relabelings")
			for _, rl := range relabelings {
				if l, ok := rl.(map[string]any)["targetLabel"].(string); ok {
					targetLabels[l] = true
				}
			}
		}
		if len(endpoints) == 0 {
			t.Errorf("%s: no endpoints", key)
		}
	}
	if !targetLabels["node"] || !jobs["vigil-agent"] || !jobs["vigil-collector"] {
		t.Fatalf("ServiceMonitors: jobs %v, target labels %v; want vigil-agent and vigil-collector labelled with node", jobs, targetLabels)
	}

	checked := 0
	check := func(where, q string, refs []string) {
		t.Helper()
		checked++
		p := parseQuery(q)
		if len(p.metrics) == 0 {
			t.Errorf("%s: no metric in %q", where, q)
		}
		labels := map[string]bool{}
		for l := range targetLabels {
			labels[l] = true
		}
		for _, m := range p.metrics {
			def, ok := defs[m]
			if !ok {
				t.Errorf("%s: metric %s is not defined in the code (query %q)", where, m, q)
				continue
			}
			for l := range def.labels {
				labels[l] = true
			}
		}
		for _, l := range p.labels {
			if !labels[l] {
				t.Errorf("%s: label %s is not a label of %v nor a target label (query %q)", where, l, p.metrics, q)
			}
		}
		for l, values := range p.values {
			for _, v := range values {
				switch {
				case l == "job" && !jobs[v]:
					t.Errorf("%s: job %q is not scraped by the chart's ServiceMonitors", where, v)
				case l == "namespace" && v != releaseNamespace:
					t.Errorf("%s: namespace %q, want the release's", where, v)
				case !targetLabels[l] && !literals[v]:
					t.Errorf("%s: %s=%q: no such string in the code", where, l, v)
				}
			}
		}
		// What the result of the query has: its by (...) labels when it
		// aggregates, else its metrics' and the target labels.
		result := labels
		if len(p.grouping) > 0 {
			result = map[string]bool{}
			for _, l := range p.grouping {
				result[l] = true
			}
		}
		for _, ref := range refs {
			if !result[ref] {
				t.Errorf("%s: refers to label %s, which the result of query %q does not have", where, ref, q)
			}
		}
	}

	rule, ok := r.monitoring["PrometheusRule/vigil"]
	if !ok {
		t.Fatal("no PrometheusRule rendered")
	}
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	alerts := map[string]bool{}
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, rl := range rules {
			rl := rl.(map[string]any)
			name, _ := rl["alert"].(string)
			alerts[name] = true
			var refs []string
			annotations, _ := rl["annotations"].(map[string]any)
			for _, a := range annotations {
				for _, m := range annotationsRef.FindAllStringSubmatch(fmt.Sprint(a), -1) {
					refs = append(refs, m[1])
				}
			}
			check("alert "+name, fmt.Sprint(rl["expr"]), refs)
		}
	}
	for _, want := range []string{"VigilAgentDown", "VigilEventsLost", "VigilEnforcementDegraded", "VigilNodeSilent"} {
		if !alerts[want] {
			t.Errorf("no alert %s; have %v", want, alerts)
		}
	}

	cm, ok := r.configMaps["vigil-grafana-dashboard"]
	if !ok {
		t.Fatal("no dashboard ConfigMap rendered")
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v: Grafana's sidecar looks for grafana_dashboard", cm.Labels)
	}
	var dash struct {
		Templating struct {
			List []struct {
				Name  string
				Query json.RawMessage
			}
		}
		Panels []struct {
			Title   string
			Targets []struct {
				Expr, LegendFormat string
			}
			Transformations []struct {
				Options map[string]any
			}
		}
	}
	if err := json.Unmarshal([]byte(cm.Data["vigil.json"]), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	for _, v := range dash.Templating.List {
		var q struct{ Query string }
		if json.Unmarshal(v.Query, &q) == nil && strings.HasPrefix(q.Query, "label_values(") {
			check("dashboard variable "+v.Name, q.Query, nil)
		}
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			var refs []string
			for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
				refs = append(refs, m[1])
			}
			for _, tr := range p.Transformations {
				for _, field := range []string{"columnField", "rowField", "valueField"} {
					if f, ok := tr.Options[field].(string); ok {
						refs = append(refs, f)
					}
				}
			}
			check("panel "+p.Title, tg.Expr, refs)
		}
	}
	if checked < 15 {
		t.Errorf("checked %d queries: the rule or dashboard was not read", checked)
	}
}

// TestQueryReaderCatchesMistakes: the reader above finds a misspelled
// metric and a label its metric lacks.
func TestQueryReaderCatchesMistakes(t *testing.T) {
	p := parseQuery(`sum by (node, kind) (rate(vigil_alert_total{namespace="x", tier="alert-only"}[5m])) + on (pod) vigil_ship_connected == 0`)
	if strings.Join(p.metrics, ",") != "vigil_alert_total,vigil_ship_connected" {
		t.Errorf("metrics %v", p.metrics)
	}
	if strings.Join(p.labels, ",") != "namespace,tier,node,kind,pod" {
		t.Errorf("labels %v", p.labels)
	}
	if fmt.Sprint(p.values) != "map[namespace:[x] tier:[alert-only]]" {
		t.Errorf("values %v", p.values)
	}
	lv := parseQuery(`label_values(vigil_enforcement_tier{namespace="$namespace"}, node)`)
	if strings.Join(lv.metrics, ",") != "vigil_enforcement_tier" || strings.Join(lv.labels, ",") != "namespace,node" {
		t.Errorf("label_values: metrics %v labels %v", lv.metrics, lv.labels)
	}
}
