package portmap

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huin/goupnp/dcps/internetgateway2"
)

// fakeIGD is a UPnP Internet Gateway Device on 127.0.0.1 for the tests: an
// SSDP responder on a UDP port of its own (searched unicast, no multicast)
// and an HTTP server of its description and SOAP control, keeping a table
// of mappings as a router would.
type fakeIGD struct {
	ssdp *net.UDPConn
	http *httptest.Server

	mu            sync.Mutex
	service       string // the service type it offers
	external      string // what GetExternalIPAddress answers
	permanentOnly bool   // refuses leases other than 0 with error 725
	refuse        int    // if not 0, the error code of every AddPortMapping
	taken         map[uint16]bool
	mappings      map[uint16]fakeUPnPMapping // by external port
	actions       []fakeAction
	// description, if set, is served instead of the description.
	description func() string
	// location, if set, is the LOCATION of SSDP answers.
	location string
	// answer, if set, answers each SOAP action instead of the gateway.
	answer func(action string) (status int, body string)
}

type fakeUPnPMapping struct {
	internal uint16
	client   string
	lease    uint32
}

// fakeAction is a SOAP action the gateway got, with its arguments.
type fakeAction struct {
	name string
	args map[string]string
}

// newFakeIGD starts a gateway offering WANIPConnection:1, with
// 203.0.113.7 as its external address.
func newFakeIGD(t *testing.T) *fakeIGD {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	igd := &fakeIGD{
		ssdp:     conn,
		service:  internetgateway2.URN_WANIPConnection_1,
		external: "203.0.113.7",
		taken:    map[uint16]bool{},
		mappings: map[uint16]fakeUPnPMapping{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /desc.xml", igd.describe)
	mux.HandleFunc("POST /ctl", igd.control)
	igd.http = httptest.NewServer(mux)
	done := make(chan struct{})
	go func() {
		defer close(done)
		igd.serveSSDP()
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
		igd.http.Close()
	})
	return igd
}

func (igd *fakeIGD) set(f func(igd *fakeIGD)) {
	igd.mu.Lock()
	defer igd.mu.Unlock()
	f(igd)
}

// config is the client's configuration for this gateway: PCP's port
// closed, quick renewals, the SSDP search sent to the fake's port.
func (igd *fakeIGD) config(t *testing.T) config {
	return config{
		port:        closedUDPPort(t).Port(),
		tries:       []time.Duration{50 * time.Millisecond},
		maxRefresh:  200 * time.Millisecond,
		retry:       100 * time.Millisecond,
		closeWithin: 500 * time.Millisecond,
		ssdp:        igd.ssdp.LocalAddr().(*net.UDPAddr).AddrPort(),
		ssdpWait:    time.Second,
		httpTimeout: time.Second,
	}
}

func (igd *fakeIGD) serveSSDP() {
	buf := make([]byte, 2048)
	for {
		n, from, err := igd.ssdp.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf[:n])))
		if err != nil || req.Method != "M-SEARCH" {
			continue
		}
		igd.mu.Lock()
		st, loc := req.Header.Get("ST"), igd.location
		offered := st == igd.service
		igd.mu.Unlock()
		if !offered {
			continue
		}
		if loc == "" {
			loc = igd.http.URL + "/desc.xml"
		}
		answer := fmt.Sprintf("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: %s\r\nUSN: uuid:fake-igd::%s\r\nLOCATION: %s\r\nEXT:\r\n\r\n", st, st, loc)
		igd.ssdp.WriteToUDPAddrPort([]byte(answer), from)
	}
}

func (igd *fakeIGD) describe(w http.ResponseWriter, r *http.Request) {
	igd.mu.Lock()
	description, service := igd.description, igd.service
	igd.mu.Unlock()
	if description != nil {
		io.WriteString(w, description())
		return
	}
	fmt.Fprintf(w, `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>fake IGD</friendlyName>
<UDN>uuid:fake-igd</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<UDN>uuid:fake-wan</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<UDN>uuid:fake-wanconn</UDN>
<serviceList><service>
<serviceType>%s</serviceType>
<serviceId>urn:upnp-org:serviceId:WANConnection</serviceId>
<SCPDURL>/scpd.xml</SCPDURL>
<controlURL>/ctl</controlURL>
<eventSubURL>/evt</eventSubURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
</device>
</root>`, service)
}

// control answers a SOAP action.
func (igd *fakeIGD) control(w http.ResponseWriter, r *http.Request) {
	action := strings.Trim(r.Header.Get("SOAPACTION"), `"`)
	service, name, _ := strings.Cut(action, "#")
	args, err := soapArgs(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	igd.mu.Lock()
	defer igd.mu.Unlock()
	igd.actions = append(igd.actions, fakeAction{name, args})
	if igd.answer != nil {
		status, body := igd.answer(name)
		w.WriteHeader(status)
		io.WriteString(w, body)
		return
	}
	if service != igd.service {
		igd.fault(w, 401, "Invalid Action")
		return
	}
	switch name {
	case "GetExternalIPAddress":
		igd.respond(w, name, "<NewExternalIPAddress>"+igd.external+"</NewExternalIPAddress>")
	case "AddPortMapping":
		ext, _ := strconv.Atoi(args["NewExternalPort"])
		internal, _ := strconv.Atoi(args["NewInternalPort"])
		lease, _ := strconv.Atoi(args["NewLeaseDuration"])
		m, mapped := igd.mappings[uint16(ext)]
		switch {
		case igd.refuse != 0:
			igd.fault(w, igd.refuse, "Refused")
		case args["NewProtocol"] != "UDP" || ext == 0 || internal == 0 || args["NewInternalClient"] == "":
			igd.fault(w, 402, "Invalid Args")
		case igd.permanentOnly && lease != 0:
			igd.fault(w, upnpOnlyPermanentLease, "OnlyPermanentLeasesSupported")
		case igd.taken[uint16(ext)] || mapped && (m.internal != uint16(internal) || m.client != args["NewInternalClient"]):
			igd.fault(w, upnpConflict, "ConflictInMappingEntry")
		default:
			igd.mappings[uint16(ext)] = fakeUPnPMapping{uint16(internal), args["NewInternalClient"], uint32(lease)}
			igd.respond(w, name, "")
		}
	case "DeletePortMapping":
		ext, _ := strconv.Atoi(args["NewExternalPort"])
		if _, ok := igd.mappings[uint16(ext)]; !ok {
			igd.fault(w, 714, "NoSuchEntryInArray")
			return
		}
		delete(igd.mappings, uint16(ext))
		igd.respond(w, name, "")
	default:
		igd.fault(w, 401, "Invalid Action")
	}
}

func (igd *fakeIGD) respond(w http.ResponseWriter, action, args string) {
	fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="%s">%s</u:%sResponse></s:Body></s:Envelope>`,
		action, igd.service, args, action)
}

func (igd *fakeIGD) fault(w http.ResponseWriter, code int, text string) {
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, soapFault(code, text))
}

func soapFault(code int, text string) string {
	return fmt.Sprintf(`<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`, code, text)
}

// soapArgs returns the text of each innermost element of a SOAP request.
func soapArgs(r io.Reader) (map[string]string, error) {
	args := map[string]string{}
	d := xml.NewDecoder(io.LimitReader(r, 1<<16))
	var name, text string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return args, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			name, text = tok.Name.Local, ""
		case xml.CharData:
			text += string(tok)
		case xml.EndElement:
			if tok.Name.Local == name {
				args[name] = text
			}
			name = ""
		}
	}
}

// mapping returns the mapping of external port ext, and whether there is
// one.
func (igd *fakeIGD) mapping(ext uint16) (fakeUPnPMapping, bool) {
	igd.mu.Lock()
	defer igd.mu.Unlock()
	m, ok := igd.mappings[ext]
	return m, ok
}

// count returns how many actions of that name the gateway got.
func (igd *fakeIGD) count(name string) int {
	igd.mu.Lock()
	defer igd.mu.Unlock()
	n := 0
	for _, a := range igd.actions {
		if a.name == name {
			n++
		}
	}
	return n
}

// actionsSoFar returns the actions the gateway got.
func (igd *fakeIGD) actionsSoFar() []fakeAction {
	igd.mu.Lock()
	defer igd.mu.Unlock()
	return append([]fakeAction(nil), igd.actions...)
}
