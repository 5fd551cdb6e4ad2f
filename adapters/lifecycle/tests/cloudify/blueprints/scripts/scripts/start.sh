#!/bin/bash
ctx instance runtime-properties start_args "$*"
ctx instance runtime-properties start_colour "$COLOUR"
ctx instance runtime-properties start_cwd "$(pwd)"
ctx returns started
