//go:build !failpoints

package main

const failpointsBuild = false
