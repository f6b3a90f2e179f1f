package reports

// ChartJS returns the pinned Chart.js (assets/chart-4.5.1.umd.min.js) that
// the HTML report inlines, so that the other pages of evalctl that draw
// charts (evalctl view) serve the same embedded copy.
func ChartJS() []byte {
	b, err := assets.ReadFile("assets/chart-4.5.1.umd.min.js")
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}
