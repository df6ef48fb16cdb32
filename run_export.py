#!/usr/bin/env python3
"""Export a student: ONNX (float32 / int8), a PyTorch int8 student, a Hugging Face HubertModel
folder, s3prl's distiller checkpoint, DPHuBERT's file; and read those foreign files back as students.

    python run_export.py -k result/pretrain/mini_distilhubert/upstream.pt --format onnx
    python run_export.py -k result/pretrain/mini_distilhubert/upstream.pt --format int8
    python run_downstream.py -m train -u distill_student -k result/pretrain/mini_distilhubert/upstream.int8.pt ...

See upstream_distill/export/cli.py for every flag.
"""
import sys

from upstream_distill.export.cli import main

if __name__ == "__main__":
    sys.exit(main())
