"""Which queued jobs start now: oldest first, as long as their CPU and GPU slots are free.

A later, smaller job may start past one that does not fit yet, but never take the kind of slot
that job waits for, so a big job is not starved by a stream of small ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lepton.jobs._records import JobInfo


@dataclass(frozen=True)
class Plan:
    start: list[JobInfo]  # in this order
    impossible: list[JobInfo]  # ask for more slots than the server has at all


def plan(
    queued: Sequence[JobInfo], free_cpu: int, free_gpu: int, total_cpu: int, total_gpu: int
) -> Plan:
    start: list[JobInfo] = []
    impossible: list[JobInfo] = []
    for job in queued:
        if job.cpu > total_cpu or job.gpu > total_gpu:
            impossible.append(job)
            continue
        if job.cpu <= free_cpu and job.gpu <= free_gpu:
            start.append(job)
            free_cpu -= job.cpu
            free_gpu -= job.gpu
            continue
        # it waits: what it lacks is held for it
        if job.cpu > free_cpu:
            free_cpu = 0
        if job.gpu > free_gpu:
            free_gpu = 0
    return Plan(start, impossible)


def too_big_message(job: JobInfo, total_cpu: int, total_gpu: int) -> str:
    return (
        f"the job asks for {job.cpu} CPU and {job.gpu} GPU slots, but this server has "
        f"{total_cpu} CPU and {total_gpu} GPU slots; lower resources in the spec, or ask an admin "
        "to give the server more slots (its cpu_slots and gpu_slots options)"
    )
