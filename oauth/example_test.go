package oauth_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"mailout/internal/oauthtest"
	"mailout/oauth"
)

// A client_credentials source asks the identity provider once and serves
// later calls, in this process or another, from the token file.
func ExampleSource() {
	idp, _ := oauthtest.New(oauthtest.Options{ClientSecret: "app-secret"})
	defer idp.Close()
	dir, _ := os.MkdirTemp("", "oauth-example")
	defer os.RemoveAll(dir)

	cfg := oauth.Config{
		Profile: "app", Provider: oauth.Custom, Flow: oauth.FlowClientCredentials,
		ClientID: idp.ClientID(), TokenURL: idp.TokenURL(), Scopes: []string{"mail"},
		ClientSecret: func(context.Context) (string, error) { return "app-secret", nil },
	}
	store := &oauth.FileStore{Path: filepath.Join(dir, "app.json")}
	for range 2 {
		src, err := oauth.NewSource(cfg, store, oauth.Options{})
		if err != nil {
			fmt.Println(err)
			return
		}
		tok, err := src.Token(context.Background())
		fmt.Println(idp.Valid(tok), err)
	}
	fmt.Println("token requests:", idp.Requests(""))
	// Output:
	// true <nil>
	// true <nil>
	// token requests: 1
}
