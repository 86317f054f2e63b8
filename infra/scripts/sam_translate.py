"""Translates a SAM template to plain CloudFormation offline (no AWS account).

Usage: python sam_translate.py template.yaml out.json
Local CodeUri values are swapped for a placeholder S3 location, which the translator requires.
"""

import json
import sys

from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """SAM policy templates expand locally; no AWS managed-policy lookups are needed."""

    def load(self):
        return {}

    def get(self, name):
        return None


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as source:
        template = yaml_parse(source.read())
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and not str(properties.get("CodeUri", "s3://")).startswith("s3://"):
            properties["CodeUri"] = "s3://placeholder-bucket/code.zip"
    try:
        translated = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as error:
        for cause in error.causes:
            print("SAM error:", cause.message)
        sys.exit(2)
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump(translated, out, indent=1)


if __name__ == "__main__":
    main()
