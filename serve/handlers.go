package serve

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"cyclepix/data"
	"cyclepix/data/exif"
	"cyclepix/data/raster"
	"cyclepix/infer"
)

//go:embed web/index.html
var webFS embed.FS

// apiError is an error with the HTTP status it maps to.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) *apiError {
	return &apiError{status, fmt.Sprintf(format, a...)}
}

// writeError answers {"error": "..."} with status.
func writeError(w http.ResponseWriter, status int, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if rec, ok := w.(*recorder); ok {
		rec.note = msg
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error": "encode response: `+strings.ReplaceAll(err.Error(), `"`, `'`)+`"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// jsonError is the body of an error answer written outside a handler.
func jsonError(msg string) ([]byte, error) {
	b, err := json.MarshalIndent(map[string]string{"error": msg}, "", "  ")
	return append(b, '\n'), err
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "%s %s: use %s", r.Method, r.URL.Path, strings.Join(methods, " or "))
	return false
}

// request is a parsed translate request.
type request struct {
	body                     []byte
	model, direction, format string
	strict                   bool
}

// errBodyMemory ends a body read that would take the bodies held over
// MaxBodyMemory.
var errBodyMemory = errors.New("request bodies in memory over the limit")

// bodyReader counts the bytes it reads against the server's body memory,
// as they arrive: what a client claims in Content-Length costs nothing
// until it is sent.
type bodyReader struct {
	r    io.Reader
	s    *Server
	held int64
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.held += int64(n)
		if b.s.bodyMem.Add(int64(n)) > b.s.cfg.MaxBodyMemory {
			return n, errBodyMemory
		}
	}
	return n, err
}

// release gives the bytes read back to the budget.
func (b *bodyReader) release() {
	b.s.bodyMem.Add(-b.held)
	b.held = 0
}

// busy answers 503 for a full queue.
func (s *Server) busy(w http.ResponseWriter) {
	s.counts.queueFull.Add(1)
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "server busy: %d requests in progress, the most it takes at once; retry shortly", cap(s.slots))
}

func (s *Server) handleTranslate(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	// When every slot is taken the upload would be refused once in; say
	// so before it is sent. (A slot is taken only after the body is read.)
	if len(s.slots) == cap(s.slots) {
		s.busy(w)
		return
	}
	body := &bodyReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), s: s}
	defer body.release()
	req, err := s.readRequest(w, r, body)
	if err != nil {
		// net/http closes the connection after the answer when the rest
		// of the body cannot be skipped within the body deadline.
		s.fail(w, r, err)
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.busy(w)
		return
	}
	freeSlot := sync.OnceFunc(func() { <-s.slots })
	defer freeSlot() // also when a handler panics
	res, err := s.translate(r.Context(), req, r.Header.Get("Accept"), body)
	if err != nil {
		freeSlot()
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	contentType, w0, h0 := "image/"+res.format, 0, 0
	if res.img != nil {
		ext := map[string]string{"png": ".png", "jpeg": ".jpg"}[res.format]
		err = data.Encode(&buf, res.img, ext, s.cfg.JPEGQuality)
		w0, h0 = res.img.W, res.img.H
	} else {
		var b []byte
		b, err = raster.Encode(res.raster, res.out)
		buf.Write(b)
		contentType, w0, h0 = rasterTypes[res.raster], res.out.W, res.out.H
	}
	// The slot is for the work; a client slow to take the answer holds
	// only its connection.
	freeSlot()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode %s: %v", res.format, err)
		return
	}
	m := res.model
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Cyclepix-Model", m.Name)
	h.Set("X-Cyclepix-Direction", m.Direction)
	h.Set("X-Cyclepix-Size", fmt.Sprintf("%dx%d", w0, h0))
	if res.orientation != exif.Upright {
		h.Set("X-Cyclepix-Exif-Orientation", strconv.Itoa(res.orientation))
	}
	h.Set("Server-Timing", fmt.Sprintf("total;dur=%.1f", float64(time.Since(res.start).Microseconds())/1000))
	if rec, ok := w.(*recorder); ok {
		rec.note = fmt.Sprintf("%s %s %dx%d %s", m.Name, m.Direction, w0, h0, res.format)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	s.served.Add(1)
}

// fail answers a translate request's error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		if ae.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, ae.status, "%s", ae.msg)
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		writeError(w, 499, "client closed the request")
	case errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "not done within the %s request timeout; retry later or send a smaller image", s.cfg.RequestTimeout)
	case errors.Is(err, infer.ErrClosed):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
	default:
		writeError(w, http.StatusInternalServerError, "%v", err)
	}
}

// result is a translated request: an 8-bit image (img) in format png or
// jpeg, or an output on the data's scale (out) as a raster file.
type result struct {
	img         *data.Image
	out         *raster.Raster
	raster      raster.Format
	model       *infer.Model
	format      string
	orientation int // the EXIF orientation applied
	start       time.Time
}

// rasterTypes are the Content-Types of answers on the data's scale.
var rasterTypes = map[raster.Format]string{raster.TIFF: "image/tiff", raster.NPY: "application/x-npy", raster.PNG: "image/png"}

// translate checks, decodes and translates a request's image; the caller
// holds a slot. The request timeout starts here, with the body in.
func (s *Server) translate(ctx context.Context, req *request, accept string, body *bodyReader) (*result, error) {
	res := &result{start: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	m, err := s.pick(req.model, req.direction)
	if err != nil {
		return nil, err
	}
	if !m.Out.Reference || (!m.TakesLabels() && (!m.In.Reference() || m.In.NeedsRaster(req.body))) {
		return s.translateData(ctx, m, req, accept, body, res)
	}
	format, err := negotiate(req.format, accept)
	if err != nil {
		return nil, err
	}
	in, err := s.input(m, req, body, res)
	if err != nil {
		return nil, err
	}
	out, err := s.eng.Run(ctx, m, []infer.Array{in})
	if err != nil {
		return nil, err
	}
	if res.img, err = m.Output(in, out[0]); err != nil {
		return nil, err
	}
	res.model, res.format = m, format
	return res, nil
}

// translateData serves a generator of data on their own scale (any
// channel count, 16-bit or float samples, declared ranges): the body is a
// TIFF, .npy or PNG file (or an image the input domain reads as the
// reference does), scaled as training scaled the generator's input
// domain, and the answer is its output domain's file, TIFF, .npy or PNG
// (format=, else Accept, else the domain's own kind), on that domain's
// scale.
func (s *Server) translateData(ctx context.Context, m *infer.Model, req *request, accept string, body *bodyReader, res *result) (*result, error) {
	kind, err := negotiateRaster(req.format, accept, m.Out.Format)
	if err != nil {
		return nil, err
	}
	if dt := m.Out.DType; kind == raster.PNG && !m.Out.Reference && (dt != raster.Uint8 && dt != raster.Uint16 || m.Spec.OutputNC > 4) {
		return nil, errorf(http.StatusNotAcceptable, "this model's outputs are %d channels of %s, which PNG cannot hold: ask for format=tif or format=npy", m.Spec.OutputNC, dt)
	}
	in, err := s.input(m, req, body, res)
	if err != nil {
		return nil, err
	}
	out, err := s.eng.Run(ctx, m, []infer.Array{in})
	if err != nil {
		return nil, err
	}
	o := m.Out
	if o.Reference {
		// An 8-bit grey or RGB output asked for as a raster file: its
		// values on the type's range.
		o = data.Output{Format: kind, DType: raster.Uint8, Scale: data.Scale{Lo: make([]float64, out[0].C), Hi: fill(out[0].C, 255)}}
	}
	if res.out, err = o.Scale.FromSigned(out[0].Data, out[0].C, out[0].H, out[0].W, o.DType); err != nil {
		return nil, err
	}
	res.model, res.raster, res.format = m, kind, string(kind)
	return res, nil
}

// input decodes a request's body into m's input and releases the body:
// files of data on their own scale (sizes checked on their header first)
// by the input domain's range, other images as the reference reads them,
// turned upright by their EXIF orientation.
func (s *Server) input(m *infer.Model, req *request, body *bodyReader, res *result) (infer.Array, error) {
	if m.TakesLabels() {
		// A label map (class ids): its instance map cannot come with it,
		// so its class boundaries stand in for the instance edges.
		in, err := m.PrepareLabels(req.body, "upload", nil, "")
		req.body = nil
		body.release()
		if err != nil {
			return infer.Array{}, errorf(http.StatusUnprocessableEntity, "%v", err)
		}
		if px := int64(in.W) * int64(in.H); px > s.cfg.MaxPixels {
			return infer.Array{}, errorf(http.StatusRequestEntityTooLarge, "label map is %dx%d = %d pixels, over the %d-pixel limit", in.W, in.H, px, s.cfg.MaxPixels)
		}
		return in, nil
	}
	var img *data.Image
	if m.In.NeedsRaster(req.body) {
		cfg, err := raster.DecodeConfig(req.body)
		switch {
		case errors.Is(err, raster.ErrFormat):
			return infer.Array{}, errorf(http.StatusBadRequest, "not an image this model reads: it takes TIFF, .npy or PNG files of %d channels (%d bytes starting %q)", m.Spec.InputNC, len(req.body), head(req.body))
		case err != nil:
			return infer.Array{}, errorf(http.StatusBadRequest, "corrupt image header: %v", err)
		case cfg.W <= 0 || cfg.H <= 0:
			return infer.Array{}, errorf(http.StatusBadRequest, "image is %dx%d: nothing to translate", cfg.W, cfg.H)
		case int64(cfg.W)*int64(cfg.H) > s.cfg.MaxPixels:
			return infer.Array{}, errorf(http.StatusRequestEntityTooLarge, "image is %dx%d = %d pixels, over the %d-pixel limit", cfg.W, cfg.H, int64(cfg.W)*int64(cfg.H), s.cfg.MaxPixels)
		}
		if img, err = data.DecodeSide(req.body, "upload", m.In, data.DepthFull); err != nil {
			return infer.Array{}, errorf(http.StatusUnprocessableEntity, "%v", err)
		}
	} else {
		var err error
		if img, err = s.decode(req.body); err != nil {
			return infer.Array{}, err
		}
		img, res.orientation = s.upright(img, req.body)
	}
	req.body = nil
	body.release()
	in, err := m.Prepare(img, req.strict)
	if err != nil {
		var ce *infer.ChannelError
		if errors.As(err, &ce) {
			return infer.Array{}, errorf(http.StatusUnprocessableEntity, "%v (strict=1 refuses conversion; leave it out to convert as the reference does)", err)
		}
		return infer.Array{}, errorf(http.StatusUnprocessableEntity, "%v", err)
	}
	return in, nil
}

func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// negotiateRaster picks the kind of an answer on the data's scale:
// format= (tif, npy or png), else the first of image/tiff,
// application/x-npy (or application/octet-stream) and image/png in Accept,
// else def.
func negotiateRaster(format, accept string, def raster.Format) (raster.Format, error) {
	if format != "" {
		f, err := raster.ParseFormat(format)
		if err != nil {
			return "", errorf(http.StatusBadRequest, "format=%q: this model's outputs are data on their own scale: want tif, npy or png", format)
		}
		return f, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case "image/tiff":
			return raster.TIFF, nil
		case "application/x-npy", "application/npy":
			return raster.NPY, nil
		case "image/png":
			return raster.PNG, nil
		}
	}
	return def, nil
}

// upright applies a JPEG's EXIF orientation to its decoded image, unless
// configured not to; it returns the orientation applied.
func (s *Server) upright(img *data.Image, file []byte) (*data.Image, int) {
	if s.cfg.IgnoreOrientation {
		return img, exif.Upright
	}
	o := exif.Orientation(file)
	return exif.Apply(img, o), o
}

// readRequest reads the whole body, within BodyTimeout and the body
// limits, and takes the image from a multipart "image" field or the raw
// body, and the parameters from the query string or the form fields.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request, body *bodyReader) (*request, error) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes is over the %d-byte limit", r.ContentLength, s.cfg.MaxBodyBytes)
	}
	rc := http.NewResponseController(w)
	if !s.startUpload(rc) {
		return nil, errorf(http.StatusServiceUnavailable, "server is shutting down")
	}
	defer s.endUpload(rc)
	// The multipart reader reads r.Body: make that the limited, counted one.
	r.Body = struct {
		io.Reader
		io.Closer
	}{body, r.Body}
	q := r.URL.Query()
	req := &request{model: q.Get("model"), direction: q.Get("direction"), format: q.Get("format")}
	strict := q.Get("strict")
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		if params["boundary"] == "" {
			return nil, errorf(http.StatusBadRequest, "multipart request without a boundary")
		}
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "multipart: %v", err)
		}
		found := false
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, s.bodyError(err, body, r, "multipart body")
			}
			name := p.FormName()
			switch {
			case name == "image":
				if req.body, err = io.ReadAll(p); err != nil {
					return nil, s.bodyError(err, body, r, "image field")
				}
				found = true
			default:
				v, err := io.ReadAll(io.LimitReader(p, 1024))
				if err != nil {
					return nil, s.bodyError(err, body, r, "form field "+name)
				}
				val := strings.TrimSpace(string(v))
				switch name {
				case "model":
					req.model = val
				case "direction":
					req.direction = val
				case "format":
					req.format = val
				case "strict":
					strict = val
				}
			}
			p.Close()
		}
		if !found {
			return nil, errorf(http.StatusBadRequest, `multipart request has no "image" field (send the file as image=@photo.png)`)
		}
	} else {
		var err error
		if req.body, err = io.ReadAll(r.Body); err != nil {
			return nil, s.bodyError(err, body, r, "request body")
		}
	}
	if len(req.body) == 0 {
		return nil, errorf(http.StatusBadRequest, "empty image: send an image as the request body or as the multipart field \"image\"")
	}
	if strict != "" {
		b, err := strconv.ParseBool(strict)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "strict=%q: want true or false", strict)
		}
		req.strict = b
	}
	return req, nil
}

// bodyError maps a failed body read to its answer and counts slow ones.
func (s *Server) bodyError(err error, body *bodyReader, r *http.Request, what string) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "request body is over the %d-byte limit", s.cfg.MaxBodyBytes)
	case errors.Is(err, errBodyMemory):
		s.counts.bodyMemory.Add(1)
		return errorf(http.StatusServiceUnavailable, "server busy receiving other uploads (%d bytes of request bodies in memory, the most it holds); retry shortly", s.cfg.MaxBodyMemory)
	case errors.Is(err, os.ErrDeadlineExceeded) && s.draining.Load():
		return errorf(http.StatusServiceUnavailable, "server is shutting down")
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.counts.slowBody.Add(1)
		of := ""
		if r.ContentLength > 0 {
			of = fmt.Sprintf(" of %d", r.ContentLength)
		}
		return errorf(http.StatusRequestTimeout, "request body not received within the %s body timeout (%d%s bytes arrived); send it faster or in a smaller file", s.cfg.BodyTimeout, body.held, of)
	}
	return errorf(http.StatusBadRequest, "read %s: %v", what, err)
}

// pick returns the generator for a model name and direction (empty: the
// only or first model, its default direction).
func (s *Server) pick(name, dir string) (*infer.Model, error) {
	if name == "" {
		name = s.order[0]
	}
	m := s.models[name]
	if m == nil {
		return nil, errorf(http.StatusNotFound, "unknown model %q (loaded: %s)", name, quoteList(s.order))
	}
	if dir == "" {
		dir = m.dirs[0]
	}
	g := m.byDir[dir]
	if g == nil {
		if dir != "AtoB" && dir != "BtoA" {
			return nil, errorf(http.StatusBadRequest, "direction %q: want AtoB or BtoA", dir)
		}
		return nil, errorf(http.StatusNotFound, "model %q has no %s generator (it has %s)", name, dir, quoteList(m.sortedDirs()))
	}
	return g, nil
}

// negotiate picks the response format: format= (png, jpeg or jpg), else
// the first of image/png or image/jpeg in Accept, else PNG.
func negotiate(format, accept string) (string, error) {
	switch strings.ToLower(format) {
	case "png":
		return "png", nil
	case "jpeg", "jpg":
		return "jpeg", nil
	case "":
	default:
		return "", errorf(http.StatusBadRequest, "format=%q: want png or jpeg", format)
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case "image/png":
			return "png", nil
		case "image/jpeg", "image/jpg":
			return "jpeg", nil
		}
	}
	return "png", nil
}

// decode checks the header's claimed size against MaxPixels before
// decoding anything, then decodes as training does (libjpeg-turbo with
// Pillow's settings for JPEG, Pillow's mode conversions, 16-bit kept).
func (s *Server) decode(b []byte) (*data.Image, error) {
	cfg, err := data.DecodeConfig(b)
	format := formatName(cfg.Format)
	if err != nil {
		switch {
		case errors.Is(err, data.ErrFormat):
			return nil, errorf(http.StatusBadRequest, "not an image: the body is not PNG, JPEG, BMP, TIFF or PPM (%d bytes starting %q)", len(b), head(b))
		case truncated(err):
			return nil, errorf(http.StatusBadRequest, "truncated %s image: the file ends inside its header (%d bytes)", format, len(b))
		}
		return nil, errorf(http.StatusBadRequest, "corrupt %s header: %v", format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, errorf(http.StatusBadRequest, "%s image is %dx%d: nothing to translate", format, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > s.cfg.MaxPixels {
		return nil, errorf(http.StatusRequestEntityTooLarge, "%s image is %dx%d = %d pixels, over the %d-pixel limit", format, cfg.Width, cfg.Height, px, s.cfg.MaxPixels)
	}
	img, err := data.DecodeImage(b, "upload", data.DepthFull)
	if err != nil {
		// DecodeImage's error names the upload and format; say it our way.
		cause := err
		if u := errors.Unwrap(err); u != nil {
			cause = u
		}
		if truncated(err) {
			return nil, errorf(http.StatusBadRequest, "truncated %s image (%dx%d, %d bytes): %v", format, cfg.Width, cfg.Height, len(b), cause)
		}
		return nil, errorf(http.StatusBadRequest, "corrupt %s image (%dx%d): %v", format, cfg.Width, cfg.Height, cause)
	}
	return img, nil
}

// truncated reports whether a decoder ran out of data. image/png reports
// a short pixel stream as a FormatError rather than an EOF.
func truncated(err error) bool {
	return errors.Is(err, data.ErrTruncated) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "not enough pixel data")
}

func formatName(f string) string {
	if f == "" {
		return "image"
	}
	return strings.ToUpper(f)
}

// head is the start of a body, for error messages.
func head(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return string(b)
}

// modelInfo is /v1/models' description of a model.
type modelInfo struct {
	Name             string          `json:"name"`
	DefaultDirection string          `json:"default_direction"`
	Generators       []generatorInfo `json:"generators"`
	Options          map[string]any  `json:"options"`
}

type generatorInfo struct {
	Direction    string `json:"direction"`
	Net          string `json:"net"`
	Source       string `json:"source"`
	NetG         string `json:"netG"`
	NGF          int    `json:"ngf"`
	Norm         string `json:"norm"`
	InputNC      int    `json:"input_nc"`
	OutputNC     int    `json:"output_nc"`
	SizeMultiple int    `json:"size_multiple"`
	MinSize      int    `json:"min_size"`
	Eval         bool   `json:"eval"`
	Device       string `json:"device"`
	Params       int64  `json:"params"`
	Preprocess   string `json:"preprocess"`
	// InputRange is the input domain's --range_A/--range_B ("dtype":
	// 8-bit grey/RGB images as the reference maps them); OutputFormat is
	// the kind and type of answers on the data's scale ("" for 8-bit
	// PNG/JPEG images).
	InputRange   string `json:"input_range"`
	OutputRange  string `json:"output_range"`
	OutputFormat string `json:"output_format"`
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	var out []modelInfo
	for _, name := range s.order {
		m := s.models[name]
		info := modelInfo{Name: name, DefaultDirection: m.dirs[0]}
		for _, d := range m.sortedDirs() {
			g := m.byDir[d]
			pre := "none (the image's own size, padded to the size multiple)"
			if g.Preprocess != nil {
				pre = fmt.Sprintf("%s (load_size %d, crop_size %d)", g.Preprocess.Preprocess, g.Preprocess.LoadSize, g.Preprocess.CropSize)
			}
			info.Generators = append(info.Generators, generatorInfo{Direction: d, Net: g.Net, Source: g.Source, NetG: g.Spec.NetG,
				NGF: g.Spec.NGF, Norm: g.Spec.Norm, InputNC: g.Spec.InputNC, OutputNC: g.Spec.OutputNC, SizeMultiple: g.Multiple,
				MinSize: g.MinSize, Eval: g.Eval, Device: g.Device.String(), Params: g.Params, Preprocess: pre,
				InputRange: g.In.Range, OutputRange: outputRange(g.Out), OutputFormat: outputFormat(g.Out)})
			if info.Options == nil {
				info.Options = jsonSafe(g.Options)
			}
		}
		out = append(out, info)
	}
	ec := s.eng.Config()
	writeJSON(w, http.StatusOK, map[string]any{
		"models": out,
		"limits": map[string]any{"max_body_bytes": s.cfg.MaxBodyBytes, "max_body_memory": s.cfg.MaxBodyMemory, "max_pixels": s.cfg.MaxPixels,
			"queue": s.cfg.Queue, "max_batch": ec.MaxBatch, "tile": ec.Tile, "tile_overlap": ec.TileOverlap,
			"request_timeout_s": s.cfg.RequestTimeout.Seconds(), "header_timeout_s": s.cfg.HeaderTimeout.Seconds(),
			"body_timeout_s": s.cfg.BodyTimeout.Seconds(), "idle_timeout_s": s.cfg.IdleTimeout.Seconds(),
			"max_conns": max(s.cfg.MaxConns, 0), "max_conns_per_ip": max(s.cfg.MaxConnsPerIP, 0)},
		// Whether JPEG uploads are turned upright by their EXIF orientation.
		"exif_orientation": !s.cfg.IgnoreOrientation,
	})
}

// jsonSafe replaces values JSON cannot hold (infinite floats) by strings.
func jsonSafe(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			v = fmt.Sprint(f)
		}
		out[k] = v
	}
	return out
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	status, code := "ok", http.StatusOK
	if s.draining.Load() {
		status, code = "shutting down", http.StatusServiceUnavailable
	}
	open := 0
	if l := s.conns.Load(); l != nil {
		open = l.openConns()
	}
	c := &s.counts
	writeJSON(w, code, map[string]any{"status": status, "models": s.modelNames(), "in_flight": len(s.slots),
		"queue": cap(s.slots), "served": s.served.Load(), "engine": s.eng.Stats(),
		"connections": open, "body_memory_bytes": s.bodyMem.Load(),
		// Answered 503 (and closed, for connections) at a limit.
		"rejected": map[string]int64{"queue_full": c.queueFull.Load(), "body_memory": c.bodyMemory.Load(),
			"max_conns": c.tooManyConns.Load(), "max_conns_per_ip": c.tooManyFromAddr.Load()},
		// Slow clients cut off at a deadline: 408 for bodies, closed
		// connections for headers and responses.
		"cut_off": map[string]int64{"slow_headers": c.slowHeaders.Load(), "slow_body": c.slowBody.Load(),
			"slow_response": c.slowResponse.Load()},
		"idle_closed": c.idleClosed.Load()})
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/index.html" {
		writeError(w, http.StatusNotFound, "no page %s (the API is under /v1/: POST /v1/translate, GET /v1/models)", r.URL.Path)
		return
	}
	if !allow(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	page, err := webFS.ReadFile("web/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "page: %v", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	// The page loads nothing from elsewhere; say so to the browser too.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	w.Write(page)
}

func outputRange(o data.Output) string {
	if o.Reference {
		return "dtype"
	}
	return o.Scale.Range().String()
}

func outputFormat(o data.Output) string {
	if o.Reference {
		return ""
	}
	return string(o.Format) + ":" + o.DType.String()
}
