module mcpops.dev/proxy

go 1.24
