module mcpops.dev/pause

go 1.19
