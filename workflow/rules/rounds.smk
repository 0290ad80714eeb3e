# The heavy jobs: one per round. Each runs `python -m pipeline.launch`, which trains inline,
# in a local submitit process or as a SLURM job (config: launcher.backend) and blocks on it;
# under launcher.pack one job writes several rounds and their launchers share it.
from pipeline.launch.launcher import forget_finished


# The workflow has seen every round it ran in place: the launchers' second names of them go.
onsuccess:
    forget_finished(all_round_files())


onerror:
    forget_finished(all_round_files())


rule dense_round:
    output:
        f"{RESULTS}/{paths.DENSE_PATTERN}",
    log:
        paths.log_of(RESULTS, paths.DENSE_PATTERN),
    benchmark:
        paths.benchmark_of(RESULTS, paths.DENSE_PATTERN)
    conda:
        "../../envs/pipeline.yaml"
    threads: HEAVY_THREADS
    resources:
        gpus=CFG.launcher.gpus,
        cpus=CFG.launcher.cpus,
        mem_mb=CFG.launcher.mem_mb,
        runtime=CFG.launcher.time_min,
        slurm_partition=CFG.launcher.partition,
    params:
        config=run_config,
        key=round_key_args,
    shell:
        "python -m pipeline.launch round --config {params.config} {params.key} --out {output}"
        " --gpus {resources.gpus} --cpus {resources.cpus} --mem-mb {resources.mem_mb}"
        " --time-min {resources.runtime} --partition '{resources.slurm_partition}' > {log} 2>&1"


rule prune_round:
    input:
        previous=previous_round,
        reference=reference_round,
    output:
        f"{RESULTS}/{paths.ROUND_PATTERN}",
    log:
        paths.log_of(RESULTS, paths.ROUND_PATTERN),
    benchmark:
        paths.benchmark_of(RESULTS, paths.ROUND_PATTERN)
    conda:
        "../../envs/pipeline.yaml"
    threads: HEAVY_THREADS
    resources:
        gpus=CFG.launcher.gpus,
        cpus=CFG.launcher.cpus,
        mem_mb=CFG.launcher.mem_mb,
        runtime=CFG.launcher.time_min,
        slurm_partition=CFG.launcher.partition,
    params:
        config=run_config,
        key=round_key_args,
        reference=reference_args,
    shell:
        "python -m pipeline.launch round --config {params.config} {params.key} --out {output}"
        " --previous {input.previous} {params.reference} --gpus {resources.gpus} --cpus {resources.cpus}"
        " --mem-mb {resources.mem_mb} --time-min {resources.runtime}"
        " --partition '{resources.slurm_partition}' > {log} 2>&1"
