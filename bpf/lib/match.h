/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Matching a path against a compiled path list. One forward pass over the
 * path hashes its canonical form (FNV-1a 64; a volatile component — all
 * digits, a long hex id, a UUID — is hashed as "*", and in a name with a
 * run of at least DIGIT_RUN_MIN digits every run of digits is hashed as
 * "{n}", as the learner generalises them: pkg/profile.CanonicalName),
 * looking up at every directory a "dir/ **" rule (and for a file the image
 * ships, the directory's image-content rule), and at the end the exact path
 * and the "parent/ *" rule.
 *
 * A pattern may write "*" before its last component
 * (/usr/lib/postgresql/ * /bin/postgres), where any name matches, not only
 * the volatile ones the canonical form writes "*". The same pass keeps a
 * second, starred hash: equal to the first until a directory that is a
 * star prefix (a pattern's directory before such a "*"), it hashes the
 * component after each star prefix it meets as "*", and every rule is also
 * looked up by it. A starred hash only matches a pattern that has "*"
 * where it does, so it never allows what no pattern does; pkg/enforce
 * computes which star prefixes each pattern's paths meet and compiles the
 * pattern to the starred hash they give (wider than the pattern only where
 * two patterns' star prefixes lie on one path). pkg/enforce computes the
 * same hashes from profile patterns. The scan's state lives in map memory so
 * that the verifier's states of the loop converge.
 */
#ifndef VIGIL_MATCH_H
#define VIGIL_MATCH_H

#include "policy.h"

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static __always_inline __u64 fnv(__u64 h, __u8 c)
{
	return (h ^ c) * FNV_PRIME;
}

/* per-component classification bits */
#define COMP_DIGITS 1 /* only decimal digits so far */
#define COMP_HEX 2 /* only hex digits so far */
#define COMP_HAS_DIGIT 4
#define COMP_UUID 8 /* still shaped like a UUID */
#define COMP_LONG_RUN 16 /* holds a run of at least DIGIT_RUN_MIN digits */

#define DIGIT_RUN_MIN 4 /* pkg/profile.MinDigitRun */

struct match_state {
	__u64 h_start; /* hash up to and including the '/' before the component */
	__u64 h_raw; /* that, continued with the component's bytes */
	__u64 h_parent; /* hash of the directory holding the component */
	__u64 h_digits; /* like h_raw, with every run of digits as "{n}" */
	__u64 s_start, s_raw, s_parent, s_digits; /* the starred hash's */
	__u32 comp_len;
	__u32 comp_class;
	__u32 profile;
	__u8 list;
	__u8 need; /* access bits needed */
	__u8 allowed;
	__u8 run; /* digits at the end of the component so far, up to DIGIT_RUN_MIN */
	__u8 image; /* the file is image content (VIGIL_F_IMAGE) */
	__u8 stars; /* the list has star prefixes */
	__u8 star; /* the starred hash writes the component as "*" */
};

_Static_assert(sizeof(struct match_state) <= sizeof(((struct scratch *)0)->match), "scratch.match too small");

/* The path is s->event[base, base + len). An offset, not a pointer: older
 * verifiers lose a pointer's offset when it is spilled into the callback's
 * context (Linux 6.1 read the scratch's first bytes instead). */
struct match_ctx {
	struct scratch *s;
	__u32 base;
	__u32 len;
};

static __always_inline bool rule_allows(struct match_state *m, __u8 match, __u64 hash)
{
	struct path_rule_key key = { .profile = m->profile, .list = m->list, .match = match, .hash = hash };
	__u8 *access = bpf_map_lookup_elem(&path_rules, &key);

	return access && (*access & m->need) == m->need;
}

static __always_inline bool is_star_prefix(struct match_state *m, __u64 hash)
{
	struct path_rule_key key = { .profile = m->profile, .list = m->list, .match = VIGIL_MATCH_STAR_PREFIX, .hash = hash };

	return bpf_map_lookup_elem(&path_rules, &key) != NULL;
}

static __always_inline bool volatile_component(struct match_state *m)
{
	__u32 len = m->comp_len, cls = m->comp_class;

	if (len == 0)
		return false;
	if (cls & COMP_DIGITS)
		return true;
	if ((cls & COMP_HEX) && (cls & COMP_HAS_DIGIT) && len >= 16)
		return true;
	return (cls & COMP_UUID) && len == 36;
}

static __always_inline __u64 component_hash(struct match_state *m, __u64 start, __u64 raw, __u64 digits, bool star)
{
	if (star || volatile_component(m))
		return fnv(start, '*');
	return (m->comp_class & COMP_LONG_RUN) ? digits : raw;
}

/* end_component closes the current component and returns the hash of the
 * path up to it; end_starred, the starred hash of it. */
static __always_inline __u64 end_component(struct match_state *m)
{
	return component_hash(m, m->h_start, m->h_raw, m->h_digits, false);
}

static __always_inline __u64 end_starred(struct match_state *m)
{
	return component_hash(m, m->s_start, m->s_raw, m->s_digits, m->star);
}

/* start_component begins the component after the directory hashed dir
 * (sdir starred). */
static __always_inline void start_component(struct match_state *m, __u64 dir, __u64 sdir)
{
	m->h_parent = dir;
	m->h_start = fnv(dir, '/');
	m->h_raw = m->h_start;
	m->h_digits = m->h_start;
	m->s_parent = sdir;
	m->s_start = fnv(sdir, '/');
	m->s_raw = m->s_start;
	m->s_digits = m->s_start;
	m->star = m->stars && is_star_prefix(m, sdir);
	m->run = 0;
	m->comp_len = 0;
	m->comp_class = COMP_DIGITS | COMP_HEX | COMP_UUID;
}

static long match_step(__u64 i, void *ctx)
{
	struct match_ctx *mc = ctx;
	struct match_state *m = (void *)mc->s->match;
	__u8 c;

	__u32 idx = mc->base + (__u32)i;

	if (i >= mc->len || idx >= sizeof(mc->s->event))
		return 1;
	c = mc->s->event[idx];
	if (c == '/') {
		__u64 dir = i == 0 ? FNV_OFFSET : end_component(m);
		__u64 sdir = i == 0 ? FNV_OFFSET : end_starred(m);

		if (rule_allows(m, VIGIL_MATCH_SUBTREE, dir) ||
		    (m->image && rule_allows(m, VIGIL_MATCH_IMAGE_SUBTREE, dir)) ||
		    (sdir != dir && rule_allows(m, VIGIL_MATCH_SUBTREE, sdir))) {
			m->allowed = 1;
			return 1;
		}
		start_component(m, dir, sdir);
		return 0;
	}
	m->h_raw = fnv(m->h_raw, c);
	m->s_raw = fnv(m->s_raw, c);
	if (c < '0' || c > '9') {
		m->comp_class &= ~COMP_DIGITS;
		m->h_digits = fnv(m->h_digits, c);
		m->s_digits = fnv(m->s_digits, c);
		m->run = 0;
	} else {
		m->comp_class |= COMP_HAS_DIGIT;
		if (m->run == 0) {
			m->h_digits = fnv(fnv(fnv(m->h_digits, '{'), 'n'), '}');
			m->s_digits = fnv(fnv(fnv(m->s_digits, '{'), 'n'), '}');
		}
		if (m->run < DIGIT_RUN_MIN)
			m->run++;
		if (m->run >= DIGIT_RUN_MIN)
			m->comp_class |= COMP_LONG_RUN;
	}
	bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
	if (!hex)
		m->comp_class &= ~COMP_HEX;
	__u32 pos = m->comp_len;
	if ((pos == 8 || pos == 13 || pos == 18 || pos == 23) ? c != '-' : !hex)
		m->comp_class &= ~COMP_UUID;
	m->comp_len = pos + 1;
	return 0;
}

/* path_allowed_from reports whether the profile's list allows the path at
 * s->event[base, base + len) (absolute) with the needed access, for a file
 * that is image content or not. */
static __always_inline bool path_allowed_from(struct scratch *s, __u32 base, __u32 len, __u32 profile, __u8 list,
					      __u8 need, bool image)
{
	struct match_state *m = (void *)s->match;
	struct match_ctx mc = { .s = s, .base = base, .len = len };
	__u64 end, send;

	if (len == 0 || len > VIGIL_PATH_MAX)
		return false;
	m->profile = profile;
	m->list = list;
	m->need = need;
	m->allowed = 0;
	m->image = image;
	m->stars = is_star_prefix(m, 0);
	m->star = 0;
	m->h_parent = FNV_OFFSET;
	m->h_start = FNV_OFFSET;
	m->h_raw = FNV_OFFSET;
	m->h_digits = FNV_OFFSET;
	m->s_parent = FNV_OFFSET;
	m->s_start = FNV_OFFSET;
	m->s_raw = FNV_OFFSET;
	m->s_digits = FNV_OFFSET;
	m->run = 0;
	m->comp_len = 0;
	m->comp_class = 0;
	bpf_loop(VIGIL_PATH_MAX, match_step, &mc, 0);
	if (m->allowed)
		return true;
	end = end_component(m);
	send = end_starred(m);
	return rule_allows(m, VIGIL_MATCH_EXACT, end) || rule_allows(m, VIGIL_MATCH_CHILDREN, m->h_parent) ||
	       (send != end && rule_allows(m, VIGIL_MATCH_EXACT, send)) ||
	       (m->s_parent != m->h_parent && rule_allows(m, VIGIL_MATCH_CHILDREN, m->s_parent));
}

/* path_allowed is path_allowed_from for a file whose origin does not
 * matter (an exec). */
static __always_inline bool path_allowed(struct scratch *s, __u32 base, __u32 len, __u32 profile, __u8 list,
					 __u8 need)
{
	return path_allowed_from(s, base, len, profile, list, need, false);
}

#endif /* VIGIL_MATCH_H */
