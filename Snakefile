# IMP through zeroth-order topology: architecture x data set x method x trial x round.
# A table of contents; every stage lives in workflow/rules/, every computation in pipeline/.
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from pipeline.fields import ConfigError, read_yaml

min_version("9.0")


# The embedded default, unless config files are given on the command line (a profile's
# `configfile:` counts): then those files are the whole configuration, exactly as
# `python -m pipeline check FILE` reads them, and run hashes agree. Its syntax is checked
# first, so that a malformed file is named with its line and column.
if not workflow.overwrite_configfiles:
    try:
        read_yaml(Path("config/config.yaml"))
    except ConfigError as err:
        raise WorkflowError(str(err)) from None

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/rounds.smk"
include: "workflow/rules/aggregate.smk"


# Once every rule exists (with the profile's and the command line's set-resources): refuse a
# run that asks for GPUs while its rounds would train in this process (launcher.backend inline).
refuse_inline_gpus()


rule all:
    default_target: True
    input:
        final_outputs(),
