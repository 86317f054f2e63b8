#!/usr/bin/env bash
# cfn-lint on template.yaml, then on its SAM translation: the second pass catches bad !Ref/!GetAtt
# inside functions' events and policies, which the first does not see.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-north-1}"
venv="$root/.venv/bin"
"$venv/cfn-lint" "$root/template.yaml"
translated="$(mktemp --suffix=.json)"
trap 'rm -f "$translated"' EXIT
"$venv/python" "$root/infra/scripts/sam_translate.py" "$root/template.yaml" "$translated"
# W3037: SAM's SQS policy templates list sqs:*Batch names that are not IAM actions.
"$venv/cfn-lint" --ignore-checks W3037 -- "$translated"
echo "template.yaml: cfn-lint clean, SAM translation clean"
