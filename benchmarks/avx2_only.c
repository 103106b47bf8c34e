/* avx2_only.c: this process sees its processor without AVX-512 and without VNNI.
 *
 * Loaded with LD_PRELOAD (benchmarks/avx2_only.py builds and loads it). Linux's
 * CPUID faulting (arch_prctl ARCH_SET_CPUID, the "cpuid_fault" flag of
 * /proc/cpuinfo) makes every CPUID instruction of the calling thread raise
 * SIGSEGV; the handler below runs the real instruction, clears the AVX-512,
 * AVX-VNNI and AMX bits of leaf 7 and steps over it. Libraries that choose
 * their kernels by CPUID at run time (onnxruntime's MLAS, numpy) then choose
 * their AVX2 ones, and run them at this processor's full speed: unlike an
 * emulator, this times the AVX2 code path. It is not an AVX2 processor (caches,
 * clocks and the AVX2 instructions' own speed stay this one's). A SIGSEGV
 * handler installed after this one (Python's faulthandler) breaks the mask, and
 * glibc's own string kernels, chosen before it, keep their AVX-512 forms.
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static void real_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static void on_fault(int sig, siginfo_t *info, void *context) {
    (void)info;
    ucontext_t *uc = context;
    greg_t *reg = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)reg[REG_RIP];
    if (ip[0] != 0x0f || ip[1] != 0xa2) { /* not CPUID: a real fault, left to the default action */
        signal(sig, SIG_DFL);
        return;
    }
    uint32_t leaf = (uint32_t)reg[REG_RAX], sub = (uint32_t)reg[REG_RCX], r[4];
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    real_cpuid(leaf, sub, r);
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
    if (leaf == 7 && sub == 0) {
        /* EBX: AVX512 F, DQ, IFMA, PF, ER, CD, BW, VL */
        r[1] &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
        /* ECX: AVX512 VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ */
        r[2] &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
        /* EDX: AVX512 4VNNIW, 4FMAPS, VP2INTERSECT, AMX-BF16, AVX512-FP16, AMX-TILE, AMX-INT8 */
        r[3] &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
    } else if (leaf == 7 && sub == 1) {
        r[0] &= ~((1u << 4) | (1u << 5) | (1u << 23));  /* EAX: AVX-VNNI, AVX512-BF16, AVX-IFMA */
        r[3] &= ~((1u << 4) | (1u << 5) | (1u << 10));  /* EDX: AVX-VNNI-INT8, AVX-NE-CONVERT, AVX-VNNI-INT16 */
    }
    reg[REG_RAX] = r[0];
    reg[REG_RBX] = r[1];
    reg[REG_RCX] = r[2];
    reg[REG_RDX] = r[3];
    reg[REG_RIP] += 2;
}

__attribute__((constructor)) static void start(void) {
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_sigaction = on_fault;
    act.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &act, NULL);
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
}
