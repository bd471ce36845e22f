package profilecr

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/vigil-dev/vigil/pkg/profile"
)

// The resource's identity.
const (
	Group    = "vigil.dev"
	Version  = "v1"
	Kind     = profile.KindImageProfile
	Resource = "imageprofiles"
)

// GVR is the ImageProfile resource.
var GVR = schema.GroupVersionResource{Group: Group, Version: Version, Resource: Resource}

// Labels and annotations the collector reads or sets.
const (
	// LabelManagedBy marks an object the collector created for a profile
	// that had none (value ManagedByCollector).
	LabelManagedBy     = "app.kubernetes.io/managed-by"
	ManagedByCollector = "vigil-collector"
	// AnnotationForce, "true", enforces a profile whose evidence does not
	// make it ready (vigilctl's --force).
	AnnotationForce = "vigil.dev/force"
)

// nameDigest is the digests an object can be named after: a Kubernetes name
// is lowercase alphanumerics and "-", so only hex digests of the usual
// algorithms (the CRD refuses the others).
var nameDigest = regexp.MustCompile(`^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$`)

// NameFor is the object name of digest's ImageProfile: sha256-<hex>.
func NameFor(digest string) (string, error) {
	if !nameDigest.MatchString(digest) {
		return "", fmt.Errorf("digest %q cannot name an ImageProfile: want sha256, sha384 or sha512 with lowercase hex", digest)
	}
	return strings.Replace(digest, ":", "-", 1), nil
}

// metadataFields are the profile document's metadata fields the spec holds.
var metadataFields = []string{"image", "digest", "mode", "inheritedFrom"}

// listFields are the allowlists, as the document names them.
var listFields = []string{profile.ListExecutables, profile.ListFiles, profile.ListNetwork, profile.ListCapabilities, profile.ListIoUring}

// Desired is what an object's spec asks of the collector.
type Desired struct {
	Digest string
	Mode   profile.Mode
	// ExpectVersion is spec.expectVersion (0: not set).
	ExpectVersion int64
	// Document is the profile document the spec's allowlists make, nil
	// when the spec has none (a mode change of the latest version).
	Document []byte
	// Force is the AnnotationForce annotation.
	Force bool
}

// DesiredOf reads an object's spec, checked the way the collector checks an
// imported document: a bad entry is refused with the field and the reason.
func DesiredOf(obj *unstructured.Unstructured) (Desired, error) {
	spec, ok, err := unstructured.NestedMap(obj.Object, "spec")
	if err != nil || !ok {
		return Desired{}, errors.New("no spec")
	}
	var d Desired
	d.Digest, _ = spec["digest"].(string)
	mode, _ := spec["mode"].(string)
	if d.Mode, err = profile.ParseMode(mode); err != nil {
		return Desired{}, fmt.Errorf("spec.mode: %w", err)
	}
	if err := profile.ValidateDigest(d.Digest); err != nil {
		return Desired{}, fmt.Errorf("spec.digest: %w", err)
	}
	if name, err := NameFor(d.Digest); err != nil || name != obj.GetName() {
		return Desired{}, fmt.Errorf("metadata.name must be %q (the digest, with - for its colon)", name)
	}
	if v, ok := spec["expectVersion"]; ok {
		n, isInt := v.(int64)
		if !isInt || n < 1 {
			return Desired{}, fmt.Errorf("spec.expectVersion: want a version number from 1, got %v", v)
		}
		d.ExpectVersion = n
	}
	d.Force = obj.GetAnnotations()[AnnotationForce] == "true"
	lists := map[string]any{}
	for _, l := range listFields {
		if v, ok := spec[l]; ok {
			lists[l] = v
		}
	}
	if len(lists) == 0 {
		return d, nil
	}
	meta := map[string]any{}
	for _, f := range metadataFields {
		if v, ok := spec[f]; ok {
			meta[f] = v
		}
	}
	doc, err := yaml.Marshal(map[string]any{"apiVersion": profile.APIVersion, "kind": profile.KindImageProfile, "metadata": meta, "spec": lists})
	if err != nil {
		return Desired{}, fmt.Errorf("spec: %w", err)
	}
	if _, err := profile.Decode("ImageProfile "+obj.GetName(), doc); err != nil {
		return Desired{}, err
	}
	d.Document = doc
	return d, nil
}

// FromProfile is p as an ImageProfile object: its allowlists without
// evidence, its mode, and expectVersion set to its version, so that
// applying the object changes nothing made since. The object has no status.
func FromProfile(p *profile.Profile) (*unstructured.Unstructured, error) {
	name, err := NameFor(p.Metadata.Digest)
	if err != nil {
		return nil, err
	}
	doc, err := profile.Encode(p)
	if err != nil {
		return nil, err
	}
	var parsed struct {
		Metadata map[string]any              `json:"metadata"`
		Spec     map[string][]map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &parsed); err != nil {
		return nil, fmt.Errorf("read encoded profile %s: %w", p.Metadata.Digest, err)
	}
	spec := map[string]any{}
	for _, f := range metadataFields {
		if v, ok := parsed.Metadata[f]; ok {
			spec[f] = v
		}
	}
	if p.Metadata.Mode == "" {
		spec["mode"] = string(profile.ModeLearn)
	}
	if p.Metadata.Version > 0 {
		spec["expectVersion"] = p.Metadata.Version
	}
	for _, l := range listFields {
		entries, ok := parsed.Spec[l]
		if !ok {
			continue
		}
		out := make([]any, 0, len(entries))
		for _, e := range entries {
			delete(e, "evidence")
			out = append(out, e)
		}
		spec[l] = out
	}
	return objectOf(map[string]any{
		"apiVersion": Group + "/" + Version,
		"kind":       Kind,
		"metadata":   map[string]any{"name": name},
		"spec":       spec,
	})
}

// Mirror is the object the collector creates for a profile that has none:
// the image, digest and mode of its latest version and no allowlists, so
// that it follows the collector's versions and a change of its mode
// promotes the latest one.
func Mirror(image, digest string, mode profile.Mode) (*unstructured.Unstructured, error) {
	name, err := NameFor(digest)
	if err != nil {
		return nil, err
	}
	spec := map[string]any{"digest": digest, "mode": string(mode)}
	if image != "" {
		spec["image"] = image
	}
	return objectOf(map[string]any{
		"apiVersion": Group + "/" + Version,
		"kind":       Kind,
		"metadata":   map[string]any{"name": name, "labels": map[string]any{LabelManagedBy: ManagedByCollector}},
		"spec":       spec,
	})
}

// objectOf makes an Unstructured of a JSON-shaped map, with integers as
// int64 (as objects read from the API server hold them).
func objectOf(m map[string]any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode ImageProfile: %w", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("encode ImageProfile: %w", err)
	}
	return u, nil
}
