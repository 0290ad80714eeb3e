# Aggregates, run locally: tables over the whole grid, figures per architecture/data-set pair.


localrules:
    tables,
    eta_tau,
    figures,


rule tables:
    input:
        all_round_files(),
    output:
        **{
            f"{name}_{ext}": (
                report(
                    f"{RESULTS}/tables/{name}.{ext}",
                    caption=f"../report/table_{name}.rst",
                    category="Tables",
                    labels={"table": name},
                )
                if ext == "csv"
                else f"{RESULTS}/tables/{name}.{ext}"
            )
            for name in TABLES
            for ext in ("csv", "md")
        },
    log:
        f"{RESULTS}/logs/tables.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        out_dir=lambda wildcards, output: Path(output[0]).parent,
    shell:
        "python -m pipeline tables --out-dir {params.out_dir} {input} > {log} 2>&1"


rule eta_tau:
    input:
        dense_round_files(),
    output:
        csv=report(
            f"{RESULTS}/tables/eta_tau.csv",
            caption="../report/table_eta_tau.rst",
            category="Tables",
            labels={"table": "eta_tau"},
        ),
        md=f"{RESULTS}/tables/eta_tau.md",
    log:
        f"{RESULTS}/logs/eta_tau.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        out_dir=lambda wildcards, output: Path(output[0]).parent,
    shell:
        "python -m pipeline eta-table --out-dir {params.out_dir} {input} > {log} 2>&1"


rule figures:
    input:
        lambda wildcards: pair_round_files(wildcards.arch, wildcards.dataset),
    output:
        **{
            name: report(
                f"{RESULTS}/figures/{{arch}}/{{dataset}}/{name}.png",
                caption=f"../report/figure_{name}.rst",
                category="Figures",
                subcategory="{arch} on {dataset}",
                labels={"pair": "{arch}/{dataset}", "figure": name},
            )
            for name in FIGURES
        },
    log:
        f"{RESULTS}/logs/figures/{{arch}}/{{dataset}}.log",
    conda:
        "../../envs/pipeline.yaml"
    params:
        out_dir=lambda wildcards, output: Path(output[0]).parent,
    shell:
        "python -m pipeline figures --out-dir {params.out_dir} {input} > {log} 2>&1"
