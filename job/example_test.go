//go:build unix

package job_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"mailout/job"
)

func Example() {
	r := job.Run(context.Background(), job.Options{
		Args:    []string{"sh", "-c", "echo backing up; echo disk full >&2; exit 3"},
		Env:     job.FilterEnv(os.Environ(), "MAILOUT_PASSWORD"),
		Timeout: time.Minute,
	})
	mail, _ := job.ShouldMail("failure", r)
	fmt.Println(mail, r.ExitCode)
	fmt.Println(r.Subject("web1"))
	// Output:
	// true 3
	// [web1] sh -c 'echo backing up; echo disk full >&2; exit 3': exit 3
}
