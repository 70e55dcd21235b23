"""The kernel's flags of a memory mapping (Linux's /proc/self/smaps), for the adapters' tests
that check where huge pages were advised ('hg')."""


def vm_flags(address: int) -> list[str]:
    """The VmFlags of the mapping that holds ``address``."""
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and ":" not in head:
                low, high = (int(a, 16) for a in head.split("-"))
                inside = low <= address < high
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")
