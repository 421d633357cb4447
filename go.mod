module github.com/tributary-media/tributary

go 1.26
