module stsmesh.bench/webhook

go 1.19
