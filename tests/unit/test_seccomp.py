"""The seccomp filter (terminal injection, the kernel keyrings), run through a tiny classic-BPF
interpreter."""

from __future__ import annotations

import struct

import pytest

import claudebox as cb

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_ARM = 0x40000028
DENY = 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
ALLOW = 0x7FFF0000
KILL_PROCESS = 0x80000000
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
TCGETS = 0x5401
# add_key, request_key, keyctl (the kernel's syscall tables)
KEYRING_X86_64 = (248, 249, 250)
KEYRING_I386 = (286, 287, 288)
KEYRING_AARCH64 = (217, 218, 219)
KEYRING_ARM = (309, 310, 311)

LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
RET_K = 0x06


def seccomp_data(nr: int, arch: int, args: tuple[int, ...] = (), ip: int = 0) -> bytes:
    padded = (*args, *([0] * (6 - len(args))))
    return struct.pack("<IIQ6Q", nr, arch, ip, *padded)


def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    assert len(program) % 8 == 0
    return [struct.unpack_from("<HBBI", program, offset) for offset in range(0, len(program), 8)]


def run_bpf(program: bytes, data: bytes) -> int:
    insns = decode(program)
    pc = 0
    acc = 0
    for _ in range(len(insns) + 1):  # classic BPF only jumps forward
        code, jt, jf, k = insns[pc]
        if code == LD_W_ABS:
            assert k % 4 == 0 and k + 4 <= len(data)
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code == JEQ_K:
            pc += 1 + (jt if acc == k else jf)
        elif code == JGE_K:
            pc += 1 + (jt if acc >= k else jf)
        elif code == RET_K:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x} at {pc}")
    raise AssertionError("program did not return")


def verdict(machine: str, nr: int, arch: int, *args: int) -> int:
    return run_bpf(cb.seccomp_filter(machine), seccomp_data(nr, arch, args))


@pytest.mark.parametrize(
    ("nr", "arch", "args", "expected"),
    [
        (16, AUDIT_ARCH_X86_64, (1, TIOCSTI), DENY),
        (16, AUDIT_ARCH_X86_64, (0, TIOCLINUX), DENY),
        (16, AUDIT_ARCH_X86_64, (1, 0x1_0000_5412), DENY),  # CVE-2019-10063
        (16, AUDIT_ARCH_X86_64, (1, 0xFFFFFFFF_0000541C), DENY),
        (16, AUDIT_ARCH_X86_64, (1, TCGETS), ALLOW),
        (16, AUDIT_ARCH_X86_64, (TIOCSTI, 0), ALLOW),  # the request is args[1], not args[0]
        (0, AUDIT_ARCH_X86_64, (1, TIOCSTI), ALLOW),  # read(), not ioctl()
        (54, AUDIT_ARCH_X86_64, (1, TIOCSTI), ALLOW),  # 54 is setsockopt on x86_64
        (54, AUDIT_ARCH_I386, (1, TIOCSTI), DENY),
        (54, AUDIT_ARCH_I386, (1, TIOCLINUX), DENY),
        (54, AUDIT_ARCH_I386, (1, TCGETS), ALLOW),
        (16, AUDIT_ARCH_I386, (1, TIOCSTI), ALLOW),  # 16 is lchown on i386
        (0x40000000 | 16, AUDIT_ARCH_X86_64, (1, TIOCSTI), DENY),  # x32
        (0x40000000 | 514, AUDIT_ARCH_X86_64, (1, TIOCSTI), DENY),  # x32 ioctl
        (0x40000000, AUDIT_ARCH_X86_64, (), DENY),  # any x32 syscall
        (16, 0xDEADBEEF, (1, TIOCSTI), KILL_PROCESS),
        (0, 0xDEADBEEF, (), KILL_PROCESS),
        (29, AUDIT_ARCH_AARCH64, (1, TIOCSTI), KILL_PROCESS),  # not an x86_64 ABI
        *((nr, AUDIT_ARCH_X86_64, (), DENY) for nr in KEYRING_X86_64),
        (250, AUDIT_ARCH_X86_64, (11, -4 & 0xFFFFFFFF, 1), DENY),  # keyctl(READ, @u, ...)
        *((nr, AUDIT_ARCH_I386, (), DENY) for nr in KEYRING_I386),
        *((0x40000000 | nr, AUDIT_ARCH_X86_64, (), DENY) for nr in KEYRING_X86_64),  # x32
        (250, AUDIT_ARCH_I386, (), ALLOW),  # fadvise64 on i386
        (286, AUDIT_ARCH_X86_64, (), ALLOW),  # timerfd_settime on x86_64
        (247, AUDIT_ARCH_X86_64, (), ALLOW),  # waitid, beside them
        (251, AUDIT_ARCH_X86_64, (), ALLOW),  # ioprio_set
    ],
)
def test_x86_64_filter(nr, arch, args, expected):
    assert verdict("x86_64", nr, arch, *args) == expected


@pytest.mark.parametrize(
    ("nr", "arch", "args", "expected"),
    [
        (29, AUDIT_ARCH_AARCH64, (1, TIOCSTI), DENY),
        (29, AUDIT_ARCH_AARCH64, (1, TIOCLINUX), DENY),
        (29, AUDIT_ARCH_AARCH64, (1, 0x7_0000_5412), DENY),
        (29, AUDIT_ARCH_AARCH64, (1, TCGETS), ALLOW),
        (16, AUDIT_ARCH_AARCH64, (1, TIOCSTI), ALLOW),
        (54, AUDIT_ARCH_ARM, (1, TIOCSTI), DENY),
        (54, AUDIT_ARCH_ARM, (1, TIOCLINUX), DENY),
        (54, AUDIT_ARCH_ARM, (1, TCGETS), ALLOW),
        (29, AUDIT_ARCH_ARM, (1, TIOCSTI), ALLOW),
        (0x40000000 | 29, AUDIT_ARCH_AARCH64, (1, TCGETS), ALLOW),  # no x32 on arm
        (16, AUDIT_ARCH_X86_64, (1, TIOCSTI), KILL_PROCESS),
        (16, 0xDEADBEEF, (1, TIOCSTI), KILL_PROCESS),
        *((nr, AUDIT_ARCH_AARCH64, (), DENY) for nr in KEYRING_AARCH64),
        *((nr, AUDIT_ARCH_ARM, (), DENY) for nr in KEYRING_ARM),
        (219, AUDIT_ARCH_ARM, (), ALLOW),  # mincore on arm
        (309, AUDIT_ARCH_AARCH64, (), ALLOW),
        (216, AUDIT_ARCH_AARCH64, (), ALLOW),  # mremap, beside them
        (220, AUDIT_ARCH_AARCH64, (), ALLOW),  # clone
    ],
)
def test_aarch64_filter(nr, arch, args, expected):
    assert verdict("aarch64", nr, arch, *args) == expected


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_program_shape(machine):
    program = cb.seccomp_filter(machine)
    insns = decode(program)
    assert len(program) == 8 * len(insns)
    assert insns[0] == (LD_W_ABS, 0, 0, 4)  # the arch is checked first
    for index, (code, jt, jf, _k) in enumerate(insns):
        if code in (JEQ_K, JGE_K):
            assert index + 1 + jt < len(insns)
            assert index + 1 + jf < len(insns)
        else:
            assert (jt, jf) == (0, 0)
    assert insns[-1][0] == RET_K
    assert {k for code, _, _, k in insns if code == RET_K} == {DENY, ALLOW, KILL_PROCESS}
    assert len(insns) <= 4096


def test_program_bytes_x86_64_exact():
    expected = [
        (LD_W_ABS, 0, 0, 4),
        (JEQ_K, 0, 6, AUDIT_ARCH_X86_64),
        (LD_W_ABS, 0, 0, 0),
        (JGE_K, 14, 0, 0x40000000),
        (JEQ_K, 13, 0, 248),  # add_key
        (JEQ_K, 12, 0, 249),  # request_key
        (JEQ_K, 11, 0, 250),  # keyctl
        (JEQ_K, 7, 11, 16),  # ioctl
        (JEQ_K, 0, 5, AUDIT_ARCH_I386),
        (LD_W_ABS, 0, 0, 0),
        (JEQ_K, 7, 0, 286),
        (JEQ_K, 6, 0, 287),
        (JEQ_K, 5, 0, 288),
        (JEQ_K, 1, 5, 54),
        (RET_K, 0, 0, KILL_PROCESS),
        (LD_W_ABS, 0, 0, 24),
        (JEQ_K, 1, 0, TIOCSTI),
        (JEQ_K, 0, 1, TIOCLINUX),
        (RET_K, 0, 0, DENY),
        (RET_K, 0, 0, ALLOW),
    ]
    assert decode(cb.seccomp_filter("x86_64")) == expected


def test_unsupported_machine_raises():
    with pytest.raises(cb.ClaudeboxError) as info:
        cb.seccomp_filter("riscv64")
    assert str(info.value) == (
        "no seccomp filter for machine 'riscv64' (supported: x86_64, aarch64); "
        "claudebox will not start a sandbox without it"
    )


def test_the_stages_own_keyctl_is_the_native_one_the_filter_denies():
    """fresh_session_keyring joins a new session keyring before bwrap applies the filter, by
    the number the filter refuses inside."""
    assert cb.KEYCTL_SYSCALLS == {"x86_64": 250, "aarch64": 219}
    for machine, number in cb.KEYCTL_SYSCALLS.items():
        native = cb.SECCOMP_ABIS[machine][0][0]
        assert verdict(machine, number, native, 1, 0) == DENY
