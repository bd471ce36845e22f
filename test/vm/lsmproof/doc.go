// Package lsmproof proves that tier-1 enforcement works: BPF LSM programs on
// bprm_check_security, file_open, socket_connect and capable that deny with
// EPERM, scoped to a cgroup. Its tests run only inside the test VM (package
// test/vm), whose kernel runs BPF LSM; test/vm's TestLSMEnforcementInVM
// builds them and runs them there.
package lsmproof
