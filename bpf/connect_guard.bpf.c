// SPDX-License-Identifier: GPL-2.0
/* connect guard: cgroup/connect4 and connect6 programs, attached once at the
 * cgroup2 root, that refuse (EPERM) a connect from a container whose
 * enforced profile does not allow the destination. Every other cgroup is
 * let through untouched. */
#include "lib/common.h"
#include "lib/policy.h"
#include <bpf/bpf_endian.h>

#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

static __always_inline bool net_allowed(struct net_rule_key *key)
{
	if (bpf_map_lookup_elem(&net_rules, key))
		return true;
	key->port = 0; /* a rule for any port */
	return bpf_map_lookup_elem(&net_rules, key) != NULL;
}

static __always_inline int guard(struct bpf_sock_addr *ctx, bool v6)
{
	struct scope_policy *pol = current_policy();
	struct net_rule_key key = {};

	if (!pol || !(pol->enforce & VIGIL_ENFORCE_CONNECT))
		return 1;
	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return 1; /* profiles describe tcp and udp only */
	key.prefixlen = 64 + 128;
	key.profile = pol->profile;
	key.port = bpf_ntohs(ctx->user_port);
	key.protocol = ctx->protocol;
	/* The context allows only whole 4-byte loads of its fields. */
	if (v6) {
		__u32 w[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };

		__builtin_memcpy(key.addr, w, 16);
	} else {
		__u32 ip4 = ctx->user_ip4;

		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], &ip4, 4);
	}
	if (net_allowed(&key))
		return 1;
	note_denied(VIGIL_EVENT_CONNECT);
	return 0;
}

SEC("cgroup/connect4")
int guard_connect4(struct bpf_sock_addr *ctx)
{
	return guard(ctx, false);
}

SEC("cgroup/connect6")
int guard_connect6(struct bpf_sock_addr *ctx)
{
	return guard(ctx, true);
}
