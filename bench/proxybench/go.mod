module mcpops.dev/proxybench

go 1.24
