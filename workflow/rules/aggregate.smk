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
                    paths.table_file(RESULTS, name, ext),
                    caption=f"../report/{tables()[name].caption}",
                    category="Tables",
                    labels={"table": name},
                )
                if ext == "csv"
                else paths.table_file(RESULTS, name, ext)
            )
            for name in TABLES
            for ext in paths.TABLE_FORMATS
        },
    log:
        paths.log_of(RESULTS, "tables"),
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
            paths.table_file(RESULTS, "eta_tau", "csv"),
            caption="../report/table_eta_tau.rst",
            category="Tables",
            labels={"table": "eta_tau"},
        ),
        md=paths.table_file(RESULTS, "eta_tau", "md"),
    log:
        paths.log_of(RESULTS, "eta_tau"),
    conda:
        "../../envs/pipeline.yaml"
    params:
        out_dir=lambda wildcards, output: Path(output[0]).parent,
    shell:
        "python -m pipeline eta-table --out-dir {params.out_dir} {input} > {log} 2>&1"


rule figures:
    input:
        lambda wildcards: pair_round_files(
            paths.arch_of_dir(wildcards.arch), wildcards.dataset
        ),
    output:
        **{
            name: report(
                paths.figure_file(RESULTS, "{arch}", "{dataset}", name),
                caption=f"../report/{figures()[name].caption}",
                category="Figures",
                subcategory="{arch} on {dataset}",
                labels={"pair": "{arch}/{dataset}", "figure": name},
            )
            for name in FIGURES
        },
    log:
        paths.log_of(RESULTS, "figures/{arch}/{dataset}"),
    conda:
        "../../envs/pipeline.yaml"
    params:
        out_dir=lambda wildcards, output: Path(output[0]).parent,
    shell:
        "python -m pipeline figures --out-dir {params.out_dir} {input} > {log} 2>&1"
