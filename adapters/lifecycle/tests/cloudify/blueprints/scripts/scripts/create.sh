#!/bin/bash
set -e
port=$(ctx node properties port)
ctx instance runtime-properties port_seen "$port"
ctx instance runtime-properties nested.level "deep"
config=$(ctx download-resource resources/app.conf)
ctx instance runtime-properties config_text "$(cat "$config")"
ctx logger info "created on port $port"
