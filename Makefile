# Thin wrappers over tasks.py, which bootstraps .venv by itself.
PY ?= python3

.PHONY: play test check fmt bench
play:  ; $(PY) tasks.py play
test:  ; $(PY) tasks.py test
check: ; $(PY) tasks.py check
fmt:   ; $(PY) tasks.py fmt
bench: ; $(PY) tasks.py bench
