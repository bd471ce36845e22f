package profile

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// ValidateDigest checks an OCI content digest such as sha256:<64 hex>.
func ValidateDigest(d string) error {
	alg, enc, ok := strings.Cut(d, ":")
	if !ok || alg == "" || enc == "" {
		return fmt.Errorf("digest %q: want algorithm:hex, e.g. sha256:…", d)
	}
	for _, c := range alg {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("+._-", c)) {
			return fmt.Errorf("digest %q: bad algorithm %q", d, alg)
		}
	}
	want := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[alg]
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		hex := c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
		if want > 0 && !hex || !hex && !(c >= 'A' && c <= 'Z' || c >= 'g' && c <= 'z' || c == '=' || c == '_' || c == '-') {
			return fmt.Errorf("digest %q: bad character %q", d, c)
		}
	}
	if want > 0 && len(enc) != want {
		return fmt.Errorf("digest %q: %s wants %d hex digits, got %d", d, alg, want, len(enc))
	}
	return nil
}

// validateUnix checks a unix socket entry: a path pattern, or an abstract
// socket name (@ followed by anything but NUL).
func validateUnix(s string) error {
	if isAbstract(s) {
		if len(s) == 1 || strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return errors.New("abstract socket name must be @ followed by UTF-8 text without NUL")
		}
		return nil
	}
	return ValidatePattern(s)
}

// validatePrefix checks an inet destination prefix: no host bits beyond the
// prefix length, no IPv4-mapped IPv6.
func validatePrefix(p netip.Prefix) error {
	if !p.IsValid() {
		return errors.New("invalid address or CIDR")
	}
	if p.Addr().Is4In6() {
		return fmt.Errorf("%s: write IPv4-mapped addresses as IPv4", p)
	}
	if p.Masked() != p {
		return fmt.Errorf("%s has bits set beyond the prefix length (did you mean %s?)", p, p.Masked())
	}
	return nil
}

// Validate checks a profile built in code the way Decode checks a document:
// digest, mode, every pattern, address, port range, protocol, capability
// and io_uring operation, and no duplicate entries.
func (p *Profile) Validate() error {
	var errs []error
	bad := func(field string, err error) { errs = append(errs, fmt.Errorf("%s: %w", field, err)) }
	m := p.Metadata
	if err := ValidateDigest(m.Digest); err != nil {
		bad("metadata.digest", err)
	}
	if m.Mode != "" {
		if _, err := ParseMode(string(m.Mode)); err != nil {
			bad("metadata.mode", err)
		}
	}
	if m.Version < 0 {
		bad("metadata.version", errors.New("must not be negative"))
	}
	seen := make(map[string]bool)
	dup := func(field, key string) {
		if seen[key] {
			bad(field, errors.New("duplicate entry"))
		}
		seen[key] = true
	}
	for i, e := range p.Spec.Executables {
		field := fmt.Sprintf("spec.executables[%d].path", i)
		if err := ValidatePattern(e.Path); err != nil {
			bad(field, err)
		}
		if e.As != "" {
			if err := validateApplet(e.Path, e.As); err != nil {
				bad(fmt.Sprintf("spec.executables[%d].as", i), err)
			}
		}
		dup(field, "x"+appletPath(e.Path, e.As))
	}
	for i, e := range p.Spec.Files {
		field := fmt.Sprintf("spec.files[%d]", i)
		if err := ValidatePattern(e.Path); err != nil {
			bad(field+".path", err)
		}
		if e.Access == 0 || e.Access&^AccessReadWrite != 0 {
			bad(field+".access", fmt.Errorf("invalid access %d", e.Access))
		}
		if e.Image {
			if err := validateImageEntry(e); err != nil {
				bad(field, err)
			}
		}
		dup(field, fileKey(e))
	}
	for i, e := range p.Spec.Network {
		field := fmt.Sprintf("spec.network[%d]", i)
		if err := validateNetworkEntry(e); err != nil {
			bad(field, err)
		}
		dup(field, "n"+e.String())
	}
	for i, e := range p.Spec.Capabilities {
		field := fmt.Sprintf("spec.capabilities[%d]", i)
		if !e.Capability.Valid() {
			bad(field, fmt.Errorf("unknown capability number %d", e.Capability))
		}
		dup(field, "c"+e.Capability.String())
	}
	for i, e := range p.Spec.IoUring {
		field := fmt.Sprintf("spec.ioUring[%d]", i)
		if !e.Op.Valid() {
			bad(field, fmt.Errorf("unknown io_uring operation %s", e.Op))
		}
		dup(field, "u"+e.Op.String())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("profile %s: %w", m.Digest, err)
	}
	return nil
}

func validateNetworkEntry(e NetworkEntry) error {
	if e.IsUnix() {
		if e.Prefix.IsValid() || e.Ports != (PortRange{}) || e.Protocol != 0 {
			return errors.New("a unix entry takes no address, port or protocol")
		}
		return validateUnix(e.Unix)
	}
	if err := validatePrefix(e.Prefix); err != nil {
		return err
	}
	if e.Ports.Lo > e.Ports.Hi {
		return fmt.Errorf("port range %d-%d is empty", e.Ports.Lo, e.Ports.Hi)
	}
	if e.Protocol != TCP && e.Protocol != UDP {
		return fmt.Errorf("unknown protocol %d", e.Protocol)
	}
	return nil
}

// fileKey identifies a file entry among its list: an image entry and a
// plain one of the same path are two entries.
func fileKey(e FileEntry) string {
	if e.Image {
		return "i" + e.Path
	}
	return "f" + e.Path
}
