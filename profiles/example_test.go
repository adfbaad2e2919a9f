package profiles_test

import (
	"fmt"

	"mailout/profiles"
)

func ExampleConfig_Expand() {
	c := &profiles.Config{
		LocalDomain: "example.com",
		Aliases: map[string][]string{
			"root": {"ops"},
			"ops":  {"alice@example.org", "bob"},
		},
	}
	fmt.Println(c.Expand("root"))
	fmt.Println(c.Expand("carol"))
	// Output:
	// [alice@example.org bob@example.com] true
	// [carol@example.com] true
}

func ExampleSecrets_Source() {
	s := &profiles.Secrets{}
	fmt.Println(s.Source(&profiles.Profile{Name: "work", PasswordCommand: "pass show smtp/work"}))
	fmt.Println(s.Source(&profiles.Profile{Name: "work", PasswordEnv: "SMTP_PASSWORD"}))
	fmt.Println(s.Source(&profiles.Profile{Name: "work"}))
	// Output:
	// password_command "pass show smtp/work"
	// env $SMTP_PASSWORD
	// keyring (service mailout, user work)
}
