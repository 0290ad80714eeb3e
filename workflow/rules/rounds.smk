# The heavy jobs: one per round. Each runs `python -m pipeline.launch`, which trains inline,
# in a local submitit process or as a SLURM job (config: launcher.backend) and blocks on it.


rule dense_round:
    output:
        f"{RESULTS}/{paths.DENSE_PATTERN}",
    log:
        f"{RESULTS}/logs/{paths.DENSE_PATTERN}".replace(".h5", ".log"),
    benchmark:
        f"{RESULTS}/benchmarks/{paths.DENSE_PATTERN}".replace(".h5", ".tsv")
    conda:
        "../../envs/pipeline.yaml"
    threads: HEAVY_THREADS
    resources:
        gpus=CFG.launcher.gpus,
        cpus=CFG.launcher.cpus,
        mem_mb=int(CFG.launcher.mem_gb * 1024),
        runtime=CFG.launcher.time_min,
        slurm_partition=CFG.launcher.partition,
    params:
        config=run_config,
    shell:
        "python -m pipeline.launch round --config {params.config} --run-hash {wildcards.run_hash}"
        " --arch {wildcards.arch} --dataset {wildcards.dataset} --method imp --trial {wildcards.trial}"
        " --round 0 --out {output} --gpus {resources.gpus} --cpus {resources.cpus}"
        " --mem-mb {resources.mem_mb} --time-min {resources.runtime}"
        " --partition '{resources.slurm_partition}' > {log} 2>&1"


rule prune_round:
    input:
        previous=previous_round,
    output:
        f"{RESULTS}/{paths.ROUND_PATTERN}",
    log:
        f"{RESULTS}/logs/{paths.ROUND_PATTERN}".replace(".h5", ".log"),
    benchmark:
        f"{RESULTS}/benchmarks/{paths.ROUND_PATTERN}".replace(".h5", ".tsv")
    conda:
        "../../envs/pipeline.yaml"
    threads: HEAVY_THREADS
    resources:
        gpus=CFG.launcher.gpus,
        cpus=CFG.launcher.cpus,
        mem_mb=int(CFG.launcher.mem_gb * 1024),
        runtime=CFG.launcher.time_min,
        slurm_partition=CFG.launcher.partition,
    params:
        config=run_config,
    shell:
        "python -m pipeline.launch round --config {params.config} --run-hash {wildcards.run_hash}"
        " --arch {wildcards.arch} --dataset {wildcards.dataset} --method {wildcards.method}"
        " --trial {wildcards.trial} --round {wildcards.round} --out {output} --previous {input.previous}"
        " --gpus {resources.gpus} --cpus {resources.cpus} --mem-mb {resources.mem_mb}"
        " --time-min {resources.runtime} --partition '{resources.slurm_partition}' > {log} 2>&1"
