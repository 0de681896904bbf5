#!/usr/bin/env python
"""The BigAutoField sample's manage.py (tests of migspec's DEFAULT_AUTO_FIELD switch planning)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bigsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
