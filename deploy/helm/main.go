// Command chart lints vigil's Helm chart as `helm lint --strict` does and
// packages it as `helm package` does, with Helm's own library (the tests'
// dependency), so that `make chart` needs no helm binary:
//
//	go run ./deploy/helm -app-version VERSION -out bin deploy/helm/vigil
package main

import (
	"flag"
	"fmt"
	"os"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

func main() {
	appVersion := flag.String("app-version", "", "the chart's appVersion, the images' default tag (default: Chart.yaml's)")
	kubeVersion := flag.String("kube-version", "v1.37.2", "the Kubernetes version to lint for")
	out := flag.String("out", "bin", "where the packaged chart goes")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: chart [-app-version V] [-kube-version V] [-out DIR] CHART_DIR")
		os.Exit(2)
	}
	path, err := run(flag.Arg(0), *appVersion, *kubeVersion, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

func run(dir, appVersion, kubeVersion, out string) (string, error) {
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		return "", fmt.Errorf("parse kube version: %w", err)
	}
	res := lint.RunAll(dir, nil, "vigil", lint.WithKubeVersion(kv))
	failed := 0
	for _, m := range res.Messages {
		fmt.Fprintln(os.Stderr, m)
		if m.Severity >= support.WarningSev {
			failed++
		}
	}
	if failed > 0 {
		return "", fmt.Errorf("lint %s: %d warnings or errors", dir, failed)
	}
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return "", fmt.Errorf("load chart: %w", err)
	}
	if appVersion != "" {
		ch.Metadata.AppVersion = appVersion
	}
	if err := ch.Validate(); err != nil {
		return "", fmt.Errorf("validate chart: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", out, err)
	}
	path, err := chartutil.Save(ch, out)
	if err != nil {
		return "", fmt.Errorf("package chart: %w", err)
	}
	return path, nil
}
