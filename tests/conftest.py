import os
import sys
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("GANLIT_CACHE", str(Path(__file__).resolve().parent.parent / ".cache" / "ganlit"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
