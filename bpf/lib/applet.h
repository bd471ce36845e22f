/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The applet of a multi-call binary. Busybox runs the applet named by the
 * base name of argv[0] (a leading '-', a login shell's, dropped first) and,
 * while that name starts with "busybox", by the base name of the next
 * argument: so /bin/sh, /proc/self/exe run as "cat", and "/bin/busybox nc"
 * are told apart, which the executed file (always /bin/busybox) cannot do.
 * pkg/profile.Applet computes the same from the same argv bytes.
 */
#ifndef VIGIL_APPLET_H
#define VIGIL_APPLET_H

#include "match.h"

#define APPLET_SELF "busybox"
#define APPLET_SELF_LEN 7

/* bounded_index makes an index opaque to the compiler, so that the check
 * that follows is made on it, and the byte read at it: otherwise clang
 * derives one unrolled step's check from the last one's (idx != max), or
 * reads through a pointer it bounds elsewhere, which the verifier cannot
 * follow. */
#define bounded_index(idx) asm volatile("" : "+r"(idx))

/* The scan of argv, at s->event[base, base + len). */
struct applet_scan {
	struct scratch *s;
	__u32 base;
	__u32 len;
	__u32 begin; /* the current argument's first byte */
	__u32 name; /* its base name's first byte */
	__u32 first; /* in argv[0] */
	__u32 found; /* the applet is s->event[base + name, base + end) */
	__u32 end;
};

static __always_inline bool names_self(struct applet_scan *a, __u32 end)
{
	const char self[] = APPLET_SELF;

	if (end - a->name < APPLET_SELF_LEN)
		return false;
	for (int k = 0; k < APPLET_SELF_LEN; k++) {
		__u32 idx = a->base + a->name + k;

		bounded_index(idx);
		if (idx >= sizeof(a->s->event) || a->s->event[idx] != self[k])
			return false;
	}
	return true;
}

static long applet_step(__u64 i, void *ctx)
{
	struct applet_scan *a = ctx;
	__u32 idx = a->base + (__u32)i;
	char c;

	if (i >= a->len || idx >= sizeof(a->s->event))
		return 1;
	c = a->s->event[idx];
	if (c == '-' && a->first && i == a->begin) {
		a->name = i + 1;
		return 0;
	}
	if (c == '/') {
		a->name = i + 1;
		return 0;
	}
	if (c)
		return 0;
	if (!names_self(a, i)) {
		a->found = 1;
		a->end = i;
		return 1;
	}
	a->first = 0;
	a->begin = a->name = i + 1;
	return 0;
}

/* applet_allowed reports whether the profile allows, with the needed
 * access, the applet argv selects — argv_len bytes at s->event[argv]; its
 * last argument does not count when argv was truncated — of the path
 * path_allowed just scanned and refused (its hash is in s->match). */
static __always_inline bool applet_allowed(struct scratch *s, __u32 argv, __u32 argv_len, bool truncated, __u32 profile,
					   __u8 need)
{
	struct match_state *m = (void *)s->match;
	struct applet_scan a = { .s = s, .base = argv, .len = argv_len, .first = 1 };
	__u32 len;
	__u64 h;
	char c, c0 = 0, c1 = 0;

	/* A truncated argv ends inside its last argument, or on its NUL:
	 * either way that argument is left out, as userspace leaves it. */
	if (truncated && a.len > 0)
		a.len--;
	bpf_loop(VIGIL_ARGV_MAX, applet_step, &a, 0);
	if (!a.found || a.end <= a.name)
		return false;
	len = a.end - a.name;
	if (len > VIGIL_APPLET_MAX)
		return false;
	h = fnv(end_component(m), '/');
	for (int k = 0; k < VIGIL_APPLET_MAX; k++) {
		__u32 idx = argv + a.name + k;

		bounded_index(idx);
		if (k >= len || idx >= sizeof(s->event))
			break;
		c = s->event[idx];
		if (k == 0)
			c0 = c;
		else if (k == 1)
			c1 = c;
		h = fnv(h, c);
	}
	if (c0 == '.' && (len == 1 || (len == 2 && c1 == '.')))
		return false; /* "." and "..": no applet */
	m->list = VIGIL_LIST_APPLETS;
	return rule_allows(m, VIGIL_MATCH_EXACT, h);
}

#endif /* VIGIL_APPLET_H */
