package lsmproof

//go:generate go tool bpf2go -target amd64 -type deny_hook deny deny.bpf.c -- -I../../../bpf/include -mcpu=v3 -Wall -Werror
