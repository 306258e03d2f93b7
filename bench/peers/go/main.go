// Peer: a Go net/http + encoding/json mutating webhook — decode the review, echo the uid, answer
// one targeted patch op (base64). Built by bench/setup.sh with Debian's golang-go.
//
//	webhook PORT CERT KEY
package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
)

type review struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    *struct {
		UID string `json:"uid"`
	} `json:"request,omitempty"`
	Response map[string]interface{} `json:"response,omitempty"`
}

var patch = base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/metadata/annotations/peer","value":"true"}]`))

func mutate(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, `{"error":"content type"}`, http.StatusUnsupportedMediaType)
		return
	}
	var in review
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 7<<20)).Decode(&in); err != nil || in.Request == nil {
		http.Error(w, `{"error":"not an AdmissionReview"}`, http.StatusBadRequest)
		return
	}
	out := review{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview", Response: map[string]interface{}{
		"uid": in.Request.UID, "allowed": true, "patchType": "JSONPatch", "patch": patch}}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func main() {
	http.HandleFunc("/mutate", mutate)
	if err := http.ListenAndServeTLS("127.0.0.1:"+os.Args[1], os.Args[2], os.Args[3], nil); err != nil {
		panic(err)
	}
}
