package store

// Stage is where a sync stands: the state file records it (SetStage), and
// a running process reports it in /status (status.Recorder.SetStage). It is
// a string type so that its values are the words both show.
type Stage string

const (
	StageNone    Stage = ""         // nothing done yet
	StageCopying Stage = "copying"  // initial copy under way
	StageApplied Stage = "applying" // the copy is done (or there was none): applying the oplog
)
