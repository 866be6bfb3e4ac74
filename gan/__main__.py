from gan.backend import import_keras_quietly

import_keras_quietly()  # before anything else loads TensorFlow: its start-up lines stay off stderr

from gan.cli import main  # noqa: E402

raise SystemExit(main())
