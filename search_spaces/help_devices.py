"""The devices of HELP's latency tables (Lee et al., NeurIPS 2021; HayeonLee/HELP, MIT), which NB201 and
FBNet ship: one name and one description per latency column, written once for every space that has them."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CPUS", "GPUS", "HW_NAS_BENCH", "PHONES", "device_descriptions"]

GPUS = {
    "1080ti": "NVIDIA GeForce GTX 1080 Ti",
    "2080ti": "NVIDIA GeForce RTX 2080 Ti",
    "titan_rtx": "NVIDIA Titan RTX",
    "titanx": "NVIDIA Titan X",
    "titanxp": "NVIDIA Titan Xp",
}
CPUS = {
    "gold_6226": "Intel Xeon Gold 6226",
    "gold_6240": "Intel Xeon Gold 6240",
    "silver_4114": "Intel Xeon Silver 4114",
    "silver_4210r": "Intel Xeon Silver 4210R",
}
PHONES = {
    # "_1" here is part of the phone's model name, not a batch size.
    "essential_ph_1": "Essential Phone PH-1",
    "pixel2": "Google Pixel 2",
    "samsung_a50": "Samsung Galaxy A50",
    "samsung_s7": "Samsung Galaxy S7",
}
HW_NAS_BENCH = {
    "pixel3": "Google Pixel 3 phone (measured)",
    "raspi4": "Raspberry Pi 4 (measured)",
    "eyeriss": "Eyeriss ASIC (estimated)",
    "fpga": "FPGA (estimated)",
}


def device_descriptions(
    *, source: str, gpu_batches: Sequence[int], hw_nas_bench: str, cpu_note: str = ""
) -> dict[str, str]:
    """What each latency column (device name, without ``latency_``) of a HELP table measures.

    ``source``: the table it comes from (ends every description); ``gpu_batches``: the batch sizes its
    GPU columns were timed at; ``hw_nas_bench``: what the four HW-NAS-Bench devices' values are in this
    space (how they follow "Latency (ms) on <device>"); ``cpu_note``: said of the CPUs' batch size.
    """
    out: dict[str, str] = {}
    for key, name in GPUS.items():
        for batch in gpu_batches:
            out[f"{key}_{batch}"] = (
                f"Latency (ms) on the desktop GPU {name}, batch size {batch}, measured by the HELP authors. " + source
            )
    for key, name in CPUS.items():
        out[key] = (
            f"Latency (ms) on the CPU {name}, measured by the HELP authors; the batch size is not part of the "
            f"column name or the source data{cpu_note}. " + source
        )
    for key, name in PHONES.items():
        out[key] = (
            f"Latency (ms, whole milliseconds) on the phone {name}; believed to come from BRP-NAS/Eagle "
            "(SamsungLabs/eagle), not verified; batch size not recorded. " + source
        )
    for key, name in HW_NAS_BENCH.items():
        out[key] = f"Latency (ms) on {name}{hw_nas_bench} " + source
    return dict(sorted(out.items()))
