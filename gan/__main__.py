import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off the terminal

from gan.cli import main  # noqa: E402

raise SystemExit(main())
