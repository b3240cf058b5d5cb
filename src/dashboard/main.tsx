import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { App } from './app.js';
import { startEventStream } from './event-stream.js';

const stream = startEventStream();
const root = document.getElementById('app')!;
// the "Loading…" line is for a browser that never runs this bundle; Preact would keep it beside the app
root.textContent = '';
render(<App stream={stream} />, root);
