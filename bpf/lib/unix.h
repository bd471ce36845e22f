/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Judging a unix socket address against a compiled profile, as
 * pkg/profile.Allows does: a path socket by the file matcher (list
 * VIGIL_LIST_UNIX), only when it is absolute and clean — the address is the
 * caller's own text, and a ".." or "//" would let a "dir/ **" rule match a
 * path outside dir; an abstract name (leading NUL) whole, as "@name" with
 * trailing NULs dropped (list VIGIL_LIST_ABSTRACT), never when a NUL is
 * inside it (a profile cannot name it). The scans are bpf_loop callbacks
 * with their state in map memory, as the path matcher's, so that the
 * verifier's states converge.
 */
#ifndef VIGIL_UNIX_H
#define VIGIL_UNIX_H

#include "match.h"

struct unix_scan {
	__u64 hash; /* abstract: FNV-1a of "@name" so far */
	__u32 len; /* bytes of sun_path given */
	__u32 end; /* path: where the name ends (its first NUL) */
	__u32 comp; /* path: length of the current component */
	__u32 dots; /* path: dots in it */
	__u8 bad; /* not a clean path; an abstract name with a NUL inside */
	__u8 nul; /* abstract: a NUL was met */
	__u8 named; /* abstract: a byte other than NUL was met */
};

_Static_assert(sizeof(struct unix_scan) <= sizeof(((struct scratch *)0)->match), "scratch.match too small");

/* dot_component: the component just ended is empty, "." or "..". */
static __always_inline bool dot_component(struct unix_scan *u)
{
	return u->comp == 0 || (u->comp == u->dots && u->comp <= 2);
}

/* The callbacks' context is on the stack, as bpf_loop wants it. */
struct unix_ctx {
	struct scratch *s;
};

static long path_step(__u64 i, void *ctx)
{
	struct scratch *s = ((struct unix_ctx *)ctx)->s;
	struct unix_scan *u = (void *)s->match;
	char c;

	if (i >= u->len || i >= VIGIL_UNIX_PATH_MAX)
		return 1;
	c = s->event[i];
	if (c == 0) {
		u->end = i;
		return 1;
	}
	if (c == '/') {
		if (dot_component(u))
			u->bad = 1;
		u->comp = 0;
		u->dots = 0;
		return u->bad ? 1 : 0;
	}
	u->comp++;
	if (c == '.')
		u->dots++;
	return 0;
}

/* unix_clean_len returns the length of the path socket name in
 * s->event[0, len) (it ends at its first NUL), or 0 when it is not absolute
 * and clean: no empty, "." or ".." component, no trailing '/'. */
static __always_inline __u32 unix_clean_len(struct scratch *s, __u32 len)
{
	struct unix_scan *u = (void *)s->match;
	struct unix_ctx uc = { .s = s };

	if (s->event[0] != '/')
		return 0;
	u->len = len;
	u->end = len;
	u->comp = 1; /* the root before the first '/' is no component */
	u->dots = 0;
	u->bad = 0;
	bpf_loop(VIGIL_UNIX_PATH_MAX, path_step, &uc, 0);
	if (u->bad || dot_component(u))
		return 0;
	return u->end;
}

static long abstract_step(__u64 i, void *ctx)
{
	struct scratch *s = ((struct unix_ctx *)ctx)->s;
	struct unix_scan *u = (void *)s->match;
	char c;

	if (i >= u->len || i >= VIGIL_UNIX_PATH_MAX)
		return 1;
	if (i == 0)
		return 0; /* the NUL that makes it abstract */
	c = s->event[i];
	if (c == 0) {
		u->nul = 1;
		return 0;
	}
	if (u->nul) {
		u->bad = 1;
		return 1;
	}
	u->hash = fnv(u->hash, c);
	u->named = 1;
	return 0;
}

static __always_inline bool abstract_allowed(struct scratch *s, __u32 len, __u32 profile)
{
	struct unix_scan *u = (void *)s->match;
	struct path_rule_key key = { .profile = profile, .list = VIGIL_LIST_ABSTRACT, .match = VIGIL_MATCH_EXACT };
	struct unix_ctx uc = { .s = s };

	u->hash = fnv(FNV_OFFSET, '@');
	u->len = len;
	u->bad = 0;
	u->nul = 0;
	u->named = 0;
	bpf_loop(VIGIL_UNIX_PATH_MAX, abstract_step, &uc, 0);
	if (u->bad || !u->named)
		return false;
	key.hash = u->hash;
	return bpf_map_lookup_elem(&path_rules, &key) != NULL;
}

/* unix_allowed reports whether the profile allows a connect to the unix
 * socket whose sun_path is s->event[0, len). */
static __always_inline bool unix_allowed(struct scratch *s, __u32 len, __u32 profile)
{
	__u32 n;

	if (len == 0 || len > VIGIL_UNIX_PATH_MAX)
		return false;
	if (s->event[0] == 0)
		return abstract_allowed(s, len, profile);
	n = unix_clean_len(s, len);
	return n && path_allowed(s, 0, n, profile, VIGIL_LIST_UNIX, 1);
}

#endif /* VIGIL_UNIX_H */
